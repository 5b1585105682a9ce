"""Golden ids and offsets for the dolma2 tokenizer test (test/golden/dolma2-tokens.json).

    /work/venv/bin/python tools/reference/make_tokenizer_golden.py [path/to/dolma2-tokenizer.json]

Encodes test/fixtures/tokenizer-corpus.txt with the Python `tokenizers` library (the reference the
TypeScript tokenizer must match), once per line and once as a whole. Lines are split on "\\n" only,
so a CRLF line keeps its "\\r" and U+2028/U+0085 stay inside their line (str.splitlines would cut
there, which is not what the test does).

Python reports offsets in code points of the Python string; JavaScript and VS Code count UTF-16
code units, so each offset is converted here (a character above U+FFFF counts 2). Both tokenizers
snap a token that starts or ends inside a multi-byte character outward to the whole character, so
after conversion the offsets must agree exactly. The texts themselves are stored too, so the test
does not depend on how the corpus file's line endings survive a checkout.
"""
import json, os, sys
import tokenizers
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DEFAULT_TOKENIZER = os.path.join(ROOT, "..", "shared", "fixtures", "dolma2-tokenizer.json")
CORPUS = os.path.join(ROOT, "test", "fixtures", "tokenizer-corpus.txt")
OUT = os.path.join(ROOT, "test", "golden", "dolma2-tokens.json")

# Edge cases kept out of the corpus file. Python strings given to `tokenizers` cannot hold lone
# surrogates; JavaScript encodes one as U+FFFD, so the test compares a text with lone surrogates
# against these U+FFFD spellings.
EXTRAS = [
    "a\ufffdb",
    "\ufffd\ufffd x\ufffd",
    "\ufffd\U0001F600\ufffd",
    "a\r\nb\r\n\r\nc\rd\n\r\n",
    "\r\n\r\n   \r\n\tx\r\n\t\t\r\n",
    "x<|endoftext|>y<|endoftext|><|pad|>",
]


def utf16_index(text: str) -> list:
    """u16[i] = UTF-16 index of code point i (u16[len(text)] = total length)."""
    out, n = [0], 0
    for ch in text:
        n += 2 if ord(ch) > 0xFFFF else 1
        out.append(n)
    return out


def encode(tok: Tokenizer, text: str) -> dict:
    enc = tok.encode(text)  # default: added tokens are split out; no post-processor, nothing added
    u16 = utf16_index(text)
    return {
        "text": text,
        "ids": enc.ids,
        "starts": [u16[s] for s, _ in enc.offsets],
        "ends": [u16[e] for _, e in enc.offsets],
    }


def main() -> None:
    path = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_TOKENIZER)
    tok = Tokenizer.from_file(path)
    # newline="" keeps "\r\n" as written; the corpus is committed with CRLF on purpose.
    with open(CORPUS, encoding="utf-8", newline="") as f:
        corpus = f.read()
    lines = corpus.split("\n")
    golden = {
        "about": "dolma2 ids and UTF-16 offsets from Python tokenizers; "
                 "regenerate with tools/reference/make_tokenizer_golden.py",
        "tokenizers_version": tokenizers.__version__,
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "lines": [encode(tok, line) for line in lines],
        "whole": encode(tok, corpus),
        "extras": [encode(tok, text) for text in EXTRAS],
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")
    n = sum(len(x["ids"]) for x in golden["lines"])
    print(f"{len(lines)} lines, {n} line tokens, {len(golden['whole']['ids'])} whole-text tokens -> {OUT}")


if __name__ == "__main__":
    main()
