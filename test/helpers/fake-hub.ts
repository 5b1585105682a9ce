/**
 * A stand-in for the Hugging Face hub on 127.0.0.1, answering the way the real one does for what
 * the downloader uses: `/<owner>/<name>/resolve/<revision>/<file>` gives small files directly
 * (ETag = git blob id) and answers large (LFS) files with a 302 to a second server, the "CDN", on
 * another port, with X-Linked-Etag (the sha256) and X-Linked-Size; the CDN honours Range. Unknown
 * repos, revisions and files get the hub's 404s with X-Error-Code; a gated repo wants its token.
 *
 * Faults for tests: `fault.hold` sends the first bytes of an LFS file and then waits for
 * `cut()` (the socket is destroyed) or for the client to go away; `fault.corrupt` flips one byte;
 * `fault.wrongSize` makes the hub announce a size one byte too large; `fault.ignoreRange` sends
 * 200 and the whole file to a Range request.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

export interface FakeRepo {
  files: Map<string, Buffer>;
  commit: string;
  /** Token a gated repo wants (Authorization: Bearer <token>). */
  gatedToken?: string;
}

export interface LoggedRequest {
  server: 'hub' | 'cdn';
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  status?: number;
  /** Body bytes sent. */
  sent: number;
}

export interface Faults {
  /** LFS file name whose CDN answer stops after its first chunk until cut() is called. */
  hold?: string;
  corrupt?: string;
  wrongSize?: string;
  ignoreRange?: boolean;
}

const isLfs = (name: string) => name.endsWith('.safetensors');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const gitBlobId = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

export class FakeHub {
  readonly repos = new Map<string, FakeRepo>();
  readonly log: LoggedRequest[] = [];
  fault: Faults = {};
  private hub!: http.Server;
  private cdn!: http.Server;
  private held: http.ServerResponse[] = [];
  private heldWaiters: (() => void)[] = [];
  private readonly blobs = new Map<string, Buffer>();

  get endpoint(): string {
    return `http://127.0.0.1:${(this.hub.address() as AddressInfo).port}`;
  }

  get cdnOrigin(): string {
    return `http://127.0.0.1:${(this.cdn.address() as AddressInfo).port}`;
  }

  addRepo(id: string, files: Record<string, Buffer>, opts: { gatedToken?: string } = {}): FakeRepo {
    const repo: FakeRepo = { files: new Map(Object.entries(files)), commit: createHash('sha1').update(id).digest('hex'), ...opts };
    for (const b of repo.files.values()) this.blobs.set(sha256(b), b);
    this.repos.set(id, repo);
    return repo;
  }

  /** The files of a checkpoint folder, plus any extra ones. */
  static folderFiles(dir: string, extra: Record<string, Buffer> = {}): Record<string, Buffer> {
    const out: Record<string, Buffer> = {};
    for (const f of fs.readdirSync(dir)) out[f] = fs.readFileSync(path.join(dir, f));
    return { ...out, ...extra };
  }

  async start(): Promise<void> {
    this.hub = http.createServer((req, res) => this.onHub(req, res));
    this.cdn = http.createServer((req, res) => this.onCdn(req, res));
    await Promise.all([this.hub, this.cdn].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
  }

  async stop(): Promise<void> {
    this.cut();
    for (const s of [this.hub, this.cdn]) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  }

  /** Resolves once a held response has sent its first bytes. */
  whenHeld(): Promise<void> {
    if (this.held.length) return Promise.resolve();
    return new Promise((r) => this.heldWaiters.push(r));
  }

  /** Breaks the connections of held responses mid-body. */
  cut(): void {
    for (const res of this.held.splice(0)) res.socket?.destroy();
  }

  cdnRequests(name?: string): LoggedRequest[] {
    const want = name ? sha256(this.fileOf(name)) : undefined;
    return this.log.filter((r) => r.server === 'cdn' && (!want || r.url.includes(want)));
  }

  private fileOf(name: string): Buffer {
    for (const repo of this.repos.values()) {
      const b = repo.files.get(name);
      if (b) return b;
    }
    throw new Error(`no file ${name}`);
  }

  private onHub(req: http.IncomingMessage, res: http.ServerResponse): void {
    const entry: LoggedRequest = { server: 'hub', method: req.method ?? '', url: req.url ?? '', headers: req.headers, sent: 0 };
    this.log.push(entry);
    const reply = (status: number, headers: Record<string, string | number>, body?: Buffer) => {
      entry.status = status;
      res.writeHead(status, headers);
      if (body && req.method !== 'HEAD') {
        entry.sent = body.length;
        res.end(body);
      } else res.end();
    };
    const m = /^\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/(.+)$/.exec((req.url ?? '').split('?')[0]);
    if (!m) return reply(404, { 'x-error-code': 'EntryNotFound' });
    const repoId = `${m[1]}/${m[2]}`;
    const rev = decodeURIComponent(m[3]);
    const file = m[4].split('/').map(decodeURIComponent).join('/');
    const repo = this.repos.get(repoId);
    const err = (status: number, code: string, message: string) => reply(status, { 'x-error-code': code, 'x-error-message': message });
    if (!repo) return err(404, 'RepoNotFound', 'Repository Not Found');
    if (repo.gatedToken && req.headers.authorization !== `Bearer ${repo.gatedToken}`) {
      return err(401, 'GatedRepo', `Access to model ${repoId} is restricted. You must have access to it and be authenticated to access it.`);
    }
    if (rev !== 'main' && rev !== repo.commit) return err(404, 'RevisionNotFound', 'Invalid rev id');
    const body = repo.files.get(file);
    if (!body) return err(404, 'EntryNotFound', `${file} does not exist on "${rev}"`);
    const common = { 'x-repo-commit': repo.commit };
    if (!isLfs(file)) {
      return reply(200, { ...common, etag: `W/"${gitBlobId(body)}"`, 'content-length': body.length, 'content-type': 'application/octet-stream' }, body);
    }
    const hash = sha256(body);
    const size = this.fault.wrongSize === file ? body.length + 1 : body.length;
    reply(302, {
      ...common,
      location: `${this.cdnOrigin}/blobs/${hash}?signature=abc&expires=9`,
      'x-linked-etag': `"${hash}"`,
      'x-linked-size': size,
      etag: `"${hash}"`,
    });
  }

  private onCdn(req: http.IncomingMessage, res: http.ServerResponse): void {
    const entry: LoggedRequest = { server: 'cdn', method: req.method ?? '', url: req.url ?? '', headers: req.headers, sent: 0 };
    this.log.push(entry);
    const m = /^\/blobs\/([0-9a-f]{64})/.exec(req.url ?? '');
    const blob = m ? this.blobs.get(m[1]) : undefined;
    if (!blob) {
      entry.status = 404;
      return void res.writeHead(404).end();
    }
    const name = [...this.repos.values()].flatMap((r) => [...r.files]).find(([, b]) => b === blob)?.[0] ?? '';
    let body = blob;
    if (this.fault.corrupt === name) {
      body = Buffer.from(blob);
      body[Math.floor(body.length / 2)] ^= 0x40;
    }
    const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    let start = 0;
    if (range && !this.fault.ignoreRange) {
      start = Number(range[1]);
      if (start >= body.length) {
        entry.status = 416;
        return void res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
      }
      entry.status = 206;
      res.writeHead(206, { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}`, 'content-length': body.length - start, 'accept-ranges': 'bytes' });
    } else {
      entry.status = 200;
      res.writeHead(200, { 'content-length': body.length, 'accept-ranges': 'bytes', etag: `"${m![1]}"` });
    }
    if (req.method === 'HEAD') return void res.end();
    const rest = body.subarray(start);
    if (this.fault.hold === name) {
      // Send a first part, then keep the response open until cut() or the client leaves.
      const first = rest.subarray(0, Math.min(64 * 1024, rest.length - 1));
      entry.sent = first.length;
      res.write(first, () => {
        this.held.push(res);
        for (const w of this.heldWaiters.splice(0)) w();
      });
      return;
    }
    entry.sent = rest.length;
    res.end(rest);
  }
}

/** A CONNECT-only proxy on 127.0.0.1 that records the targets it tunnelled to. */
export class ConnectProxy {
  readonly targets: string[] = [];
  private server!: net.Server;
  private readonly sockets = new Set<net.Socket>();

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      client.on('error', () => undefined);
      let buf = Buffer.alloc(0);
      const onData = (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        client.off('data', onData);
        const m = /^CONNECT ([^ ]+):(\d+) HTTP\/1\.[01]\r\n/.exec(buf.subarray(0, end).toString('latin1'));
        if (!m) return void client.end('HTTP/1.1 405 Method Not Allowed\r\n\r\n');
        this.targets.push(`${m[1]}:${m[2]}`);
        const upstream = net.connect(Number(m[2]), m[1], () => {
          client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          const rest = buf.subarray(end + 4);
          if (rest.length) upstream.write(rest);
          upstream.pipe(client);
          client.pipe(upstream);
        });
        this.sockets.add(upstream);
        upstream.on('close', () => {
          this.sockets.delete(upstream);
          client.destroy();
        });
        upstream.on('error', () => client.destroy());
        client.on('close', () => upstream.destroy());
      };
      client.on('data', onData);
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}
