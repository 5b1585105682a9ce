"""Synthetic tasks built around what RePo is for: needles in noise, key-value retrieval, lookups in
linearized tables, and reachability over edge lists. Every sample is (prompt, answer); the prompt
ends with "Answer:" and the answer is what the model must produce next (loss is on it alone).

All text is ASCII, so byte-level token count == character count and a sample can be sized exactly.
"""
from __future__ import annotations

import random

ADJ = ("red blue green quiet brave calm dark eager fair gentle happy icy jolly kind lively merry noble "
       "odd proud quick rapid shy silly tall tiny vast warm wise young zany bold bright crisp damp dry "
       "fuzzy grand hollow lucky misty narrow plain rough sharp smooth soft stiff sweet thin wild").split()
NOUN = ("apple river stone cloud tiger lamp garden rocket violin forest candle pepper harbor island "
        "mirror needle orchid parrot quartz saddle tunnel umbrella valley walnut yacht zebra anchor "
        "bridge castle dragon engine falcon glacier hammer jungle kettle ladder meadow nickel oyster "
        "pencil rabbit sparrow temple wagon").split()
FILLER_WORDS = ("the a of and to in is was it for on with as at by this that from or but not are be "
                "have one all there when up out so what about which time into year more some could "
                "them see other than then now look only come over think also back after use two how "
                "our work first well way even new want because any these give day most us grass sky "
                "sun blue green yellow here we go again far near old river hill road town field").split()
NAMES = ("Alice Bruno Chen Dana Emil Farah Goran Hana Ivan Jonas Kira Liam Mona Nico Olga Pavel Quinn "
         "Rosa Sven Tara Umar Vera Wade Xena Yuri Zoe Aria Boris Cleo Dirk Elsa Finn Gina Hugo Inez "
         "Jack Lena Marco Nora Omar Petra Rami Sara Theo Uma Viktor Wren Yara Zane").split()
CITIES = "Paris Lima Oslo Cairo Delhi Tokyo Quito Rome Seoul Vienna Dakar Hanoi Perth Riga Sofia Bern".split()
COLORS = "red blue green black white orange purple yellow pink gray brown teal".split()


def _filler(rng: random.Random, n_chars: int) -> str:
    """Noisy sentences of common words, exactly n_chars long (n_chars >= 0)."""
    out = []
    size = 0
    while size < n_chars:
        k = rng.randint(4, 11)
        s = " ".join(rng.choice(FILLER_WORDS) for _ in range(k))
        s = s[0].upper() + s[1:] + ". "
        out.append(s)
        size += len(s)
    text = "".join(out)[:n_chars]
    return text


def _key(rng):
    return f"{rng.choice(ADJ)}-{rng.choice(NOUN)}"


def _insert(parts_before: str, needle_lines: list[str], body_chars: int, rng) -> str:
    """Filler of body_chars total with needle lines inserted at random sentence-ish positions."""
    total_needles = sum(len(n) for n in needle_lines)
    fill = _filler(rng, max(0, body_chars - total_needles))
    cuts = sorted(rng.randint(0, len(fill)) for _ in needle_lines)
    pieces, last = [], 0
    for c, n in zip(cuts, needle_lines):
        pieces.append(fill[last:c])
        pieces.append(n)
        last = c
    pieces.append(fill[last:])
    return parts_before + "".join(pieces)


def needle(rng: random.Random, length: int):
    """RULER-style: 'The special magic number for X is N.' hidden in noise, with distractor keys."""
    # Distractor keys grow with length: short samples hold a single needle, so copying a number can
    # be learned before matching its key (which longer samples then require).
    n_keys = rng.randint(1, min(4, 1 + length // 512))
    keys = []
    while len(keys) < n_keys:
        k = _key(rng)
        if k not in keys:
            keys.append(k)
    nums = [str(rng.randint(100000, 999999)) for _ in keys]
    lines = [f" The special magic number for {k} is {n}. " for k, n in zip(keys, nums)]
    target = rng.randrange(len(keys))
    question = f"\nWhat is the special magic number for {keys[target]}?\nAnswer:"
    answer = f" {nums[target]}"
    body = length - len(question) - len(answer)
    prompt = _insert("", lines, body, rng) + question
    return prompt, answer


def kv(rng: random.Random, length: int):
    """Key-value retrieval over a list of 'key: value' lines."""
    question_tmpl = "\nWhat is the value of {}?\nAnswer:"
    answer_len = 6
    budget = length - len(question_tmpl.format("x" * 5)) - answer_len
    pairs, size, seen = [], 0, set()
    while True:
        k = "".join(rng.choice("abcdefghjkmnpqrstuvwxyz0123456789") for _ in range(5))
        if k in seen:
            continue
        v = str(rng.randint(10000, 99999))
        line = f"{k}: {v}\n"
        if size + len(line) > budget:
            break
        seen.add(k)
        pairs.append((k, v))
        size += len(line)
    if not pairs:
        k, v = "ab3de", str(rng.randint(10000, 99999))
        pairs.append((k, v))
    k, v = rng.choice(pairs)
    text = "".join(f"{a}: {b}\n" for a, b in pairs)
    prompt = text[:-1] + question_tmpl.format(k)
    pad = length - len(prompt) - len(" " + v)
    prompt = " " * max(0, pad) + prompt
    return prompt, " " + v


def table(rng: random.Random, length: int):
    """Lookups in a linearized table (markdown or CSV): 'What is the <column> of <row>?'."""
    fmt = rng.choice(["md", "csv"])
    cols = ["name", "city", "color", "score", "year"]
    names = rng.sample(NAMES, len(NAMES))
    rows = []
    header = "| name | city | color | score | year |\n|---|---|---|---|---|\n" if fmt == "md" else "name,city,color,score,year\n"
    q_room = 60
    size = len(header)
    for n in names:
        r = [n, rng.choice(CITIES), rng.choice(COLORS), str(rng.randint(10, 99)), str(rng.randint(1950, 2024))]
        line = ("| " + " | ".join(r) + " |\n") if fmt == "md" else (",".join(r) + "\n")
        if size + len(line) + q_room > length:
            break
        rows.append(r)
        size += len(line)
    if not rows:
        rows.append([names[0], CITIES[0], COLORS[0], "50", "2000"])
    target = rng.choice(rows)
    c = rng.randrange(1, len(cols))
    question = f"\nWhat is the {cols[c]} of {target[0]}?\nAnswer:"
    answer = " " + target[c]
    text = header + "".join((("| " + " | ".join(r) + " |\n") if fmt == "md" else (",".join(r) + "\n")) for r in rows)
    prompt = text.rstrip("\n") + question
    # Long contexts hold several tables back to back (rows are unique by name across them).
    pad = length - len(prompt) - len(answer)
    if pad > 0:
        prompt = _filler(rng, pad - 1) + "\n" + prompt if pad > 1 else " " + prompt
    return prompt, answer


def reach(rng: random.Random, length: int):
    """Reachability over an edge list: 'Is there a path from X to Y?' -> yes / no."""
    n_nodes = rng.randint(4, max(4, min(14, length // 60)))
    labels = rng.sample([a + b for a in "ABCDEFGHJKLMNPRSTUVWXYZ" for b in "abcdefghjk"], n_nodes)
    edges = set()
    for _ in range(rng.randint(n_nodes - 2, n_nodes + 4)):
        a, b = rng.sample(range(n_nodes), 2)
        edges.add((a, b))
    edges = list(edges)
    rng.shuffle(edges)
    adj = {i: [] for i in range(n_nodes)}
    for a, b in edges:
        adj[a].append(b)
    src, dst = rng.sample(range(n_nodes), 2)
    seen, stack = {src}, [src]
    while stack:
        u = stack.pop()
        for w in adj[u]:
            if w not in seen:
                seen.add(w)
                stack.append(w)
    ans = "yes" if dst in seen else "no"
    text = "Edges: " + ", ".join(f"{labels[a]}->{labels[b]}" for a, b in edges) + "."
    question = f"\nIs there a path from {labels[src]} to {labels[dst]}?\nAnswer:"
    answer = " " + ans
    body = length - len(question) - len(answer)
    if len(text) > body:
        text = text[:max(0, body)]
    else:
        # the edge list sits somewhere inside noise
        pre = rng.randint(0, body - len(text))
        text = _filler(rng, pre) + text + _filler(rng, body - len(text) - pre)
    return text + question, answer


TASKS = {"needle": needle, "kv": kv, "table": table, "reach": reach}
