"""A static cheap model: a word table distilled from a small encoder, model2vec's recipe, read without any
model forward (a tokenizer, a table lookup, a mean).

The recipe (model2vec 0.10, `model2vec.distill.distill_from_model` with its defaults, no vocabulary added):

1. The encoder's own tokenizer is the vocabulary. The added tokens that play no role in tokenizing are dropped
   (for BERT: [MASK]; the unknown, padding, first and last tokens stay, the tokenizer needs them) and so is
   every token matching `[unused<n>]`; the rest keep their order and are numbered again from 0 (MiniLM:
   30,522 -> 29,527 rows).
2. Each token goes through the encoder once, with the special tokens around it (`[CLS] token [SEP]`), and the
   last hidden states are mean-pooled over those three positions (`PoolingMode.MEAN`).
3. PCA to `pca_dims` (256) by an eigendecomposition of the covariance, each component's sign chosen so its
   largest score is positive; more dims than the encoder has: a rotation only; as many dims as tokens or
   more: no PCA at all.
4. Zipf/SIF weighting: a token's frequency is estimated from its rank r in the vocabulary (0 = first) as
   p = (1 / (r + 2)) / sum, and its row is scaled by sif / (sif + p) with sif = 1e-4, so frequent (early)
   tokens weigh less.
5. Rows stored as float16, in model2vec's folder format: `model.safetensors` (tensor "embeddings"),
   `tokenizer.json` (the pruned vocabulary, no post-processor, no padding) and `config.json`.

Why by hand: `model2vec[distill]` (its tokenizer surgery, `skeletoken`) would downgrade the pinned transformers
(5.24 -> 5.3), so the steps above are written here on transformers + tokenizers, following model2vec's source
(`distill/distillation.py`, `distill/inference.py`: `create_embeddings`, `apply_pca`, `compute_weights`;
`tokenizer/tokenizer.py`). Plain `model2vec` (no extras) installs beside the stack: the tests check the table
against its `StaticModel` (loaded from the folder written here) and the steps against its own functions.

Reading it (`StaticTeacher`): the text is tokenized without special tokens, unknown tokens are dropped, the
rows of its tokens are averaged and the mean is unit-normalized, as `StaticModel.encode` does. No torch.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.teachers.base import Progress, TeacherUnavailable
from core.vectors import unit_rows

UNUSED_TOKENS = r"\[unused\d+\]"  # model2vec's default token_remove_pattern
SIF_COEFFICIENT = 1e-4  # model2vec's default
MAX_TOKENS = 512  # StaticModel's default max_length (tokens per text)
FILES = ("model.safetensors", "tokenizer.json", "config.json")
UNREADABLE = "cannot be read by this user"  # static_problem's reason for a table that is whole but not readable


def static_ready(folder: Path | str) -> bool:
    """Whether `folder` holds a complete table: the three files of model2vec's format, whole (`static_problem`)."""
    return static_problem(folder) is None


def static_problem(folder: Path | str) -> str | None:
    """What is wrong with the table in `folder` (a file missing, the weights shorter than their header says, a
    JSON file cut short), or None when it is whole. Read from the headers and the small files: milliseconds."""
    folder = Path(folder)
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        return f"{', '.join(missing)} missing"
    try:
        with open(folder / "model.safetensors", "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            length = int.from_bytes(fh.read(8), "little")
            if not 2 <= length <= min(size - 8, 100 << 20):
                return "model.safetensors has no header"
            header = json.loads(fh.read(length))
        ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"]
        if not ends or size != 8 + length + max(ends):
            return f"model.safetensors holds {size:,} bytes where its header needs {8 + length + max(ends or [0]):,}"
        for name in ("tokenizer.json", "config.json"):
            json.loads((folder / name).read_bytes())
    except PermissionError:  # whole, perhaps, but not this user's to read: building it again is not the fix
        return f"{UNREADABLE} (permission denied)"
    except OSError as err:
        return f"cannot be read ({err.strerror or type(err).__name__})"
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as err:
        return f"a file is cut short or damaged ({type(err).__name__})"
    return None


# ---- building the table -----------------------------------------------------------------------------


def _transformer_folder(source: Path) -> Path:
    """A sentence-transformers folder keeps its transformer at the path of its Transformer module; a plain
    transformers folder is its own."""
    modules = source / "modules.json"
    if modules.is_file():
        try:
            for module in json.loads(modules.read_text()):
                if str(module.get("type", "")).endswith("Transformer"):
                    return source / (module.get("path") or "")
        except (ValueError, AttributeError, TypeError):
            pass
    return source


def _load_encoder(source: Path):
    if not source.is_dir():
        raise TeacherUnavailable(f"No encoder folder at {source}: a static model is distilled from a local model.")
    try:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        folder = _transformer_folder(source)
        tokenizer = AutoTokenizer.from_pretrained(str(folder), use_fast=True, local_files_only=True)
        model = AutoModel.from_pretrained(str(folder), local_files_only=True)
    except Exception as err:  # the library raises many kinds; the user needs one sentence
        raise TeacherUnavailable(
            f"Could not load the encoder at {source} to distil a static model: "
            f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
        ) from None
    return tokenizer, model


def _special_ids(backend, vocab: dict[str, int]) -> tuple[list[int], list[int]]:
    """The ids the tokenizer's post-processor puts before and after a text (BERT: [CLS] / [SEP])."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(backend.to_str())  # a copy, without the padding and the truncation
    backend.no_padding()
    backend.no_truncation()
    for token, token_id in sorted(vocab.items(), key=lambda kv: kv[1]):
        if token.isalpha() and backend.encode(token, add_special_tokens=False).ids == [token_id]:
            ids = backend.encode(token, add_special_tokens=True).ids
            at = ids.index(token_id)
            return ids[:at], ids[at + 1 :]
    return [], []


def prune_vocabulary(tokenizer, token_remove_pattern: str | None = UNUSED_TOKENS) -> tuple[list[str], dict, list[int]]:
    """What model2vec keeps of a (fast, WordPiece or WordLevel) tokenizer's vocabulary: the tokens in id order
    without the added tokens that play no role (kept: unknown, padding, and those the post-processor puts around
    a text) and without the tokens matching `token_remove_pattern`; the new tokenizer.json (the kept tokens
    numbered 0.., no post-processor, no padding, no truncation); and the ids each kept token goes through the
    encoder as (`[*before, its original id, *after]`, as model2vec's `turn_tokens_into_ids`)."""
    backend = tokenizer.backend_tokenizer
    spec = json.loads(backend.to_str())
    model = spec.get("model") or {}
    vocab = model.get("vocab")
    if model.get("type") not in ("WordPiece", "WordLevel") or not isinstance(vocab, dict):
        raise ValueError(
            f"A static model can be distilled only from a WordPiece or WordLevel tokenizer (BERT-style), "
            f"not {model.get('type')!r}."
        )
    before, after = _special_ids(backend, vocab)
    by_id = {i: t for t, i in vocab.items()}
    keep = {tokenizer.unk_token, tokenizer.pad_token, *(by_id.get(i) for i in before + after)} - {None}
    drop = {a["content"] for a in spec.get("added_tokens") or [] if a["content"] not in keep}
    pattern = re.compile(token_remove_pattern) if token_remove_pattern else None
    tokens = [
        t
        for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])
        if t not in drop and not (pattern and pattern.match(t))
    ]
    if not tokens:
        raise ValueError("No token is left once the special and unused tokens are removed; check the pattern.")
    new_ids = {t: i for i, t in enumerate(tokens)}
    model["vocab"] = new_ids
    spec["added_tokens"] = [
        {**a, "id": new_ids[a["content"]]} for a in spec.get("added_tokens") or [] if a["content"] in new_ids
    ]
    spec["post_processor"] = None
    spec["padding"] = None
    spec["truncation"] = None
    sequences = [[*before, vocab[t], *after] for t in tokens]
    return tokens, spec, sequences


def token_embeddings(
    model, sequences: list[list[int]], batch_size: int = 256, progress: Progress | None = None
) -> np.ndarray:
    """Each id sequence through the encoder once, the last hidden states mean-pooled over its positions (the
    special tokens included), as model2vec's `create_embeddings` with `PoolingMode.MEAN`: float32 rows, in order."""
    import inspect

    import torch

    model = model.to("cpu").eval()
    with_types = "token_type_ids" in inspect.signature(model.forward).parameters
    order = np.argsort([len(s) for s in sequences], kind="stable")  # similar lengths together: little padding
    out = np.zeros((len(sequences), int(model.config.hidden_size)), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(sequences[i]) for i in rows)
            ids = torch.zeros((len(rows), width), dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for j, i in enumerate(rows):
                ids[j, : len(sequences[i])] = torch.tensor(sequences[i])
                mask[j, : len(sequences[i])] = 1
            extra = {"token_type_ids": torch.zeros_like(ids)} if with_types else {}
            hidden = model(input_ids=ids, attention_mask=mask, **extra).last_hidden_state.float()
            weights = mask.float() / mask.sum(1, keepdim=True).clamp_min(1.0)
            out[rows] = torch.bmm(weights[:, None, :], hidden).squeeze(1).numpy()
            if progress:
                progress(min(start + batch_size, len(order)), len(order))
    return np.nan_to_num(out)


def zipf_weights(n: int, sif_coefficient: float | None = SIF_COEFFICIENT) -> np.ndarray:
    """model2vec's `compute_weights`: the rank-r token's frequency estimated by Zipf's law,
    p = (1/(r+2)) / sum, weighted sif / (sif + p) (so a frequent token weighs less); None: all ones."""
    if sif_coefficient is None:
        return np.ones(n)
    inv_rank = 1.0 / np.arange(2, n + 2)
    proba = inv_rank / inv_rank.sum()
    return sif_coefficient / (sif_coefficient + proba)


def pca(embeddings: np.ndarray, pca_dims: int | None) -> np.ndarray:
    """model2vec's `apply_pca` for an integer `pca_dims`: an eigendecomposition of the covariance, components by
    decreasing variance, each signed so that its largest score (in absolute value) is positive. More dims than
    the encoder has: all of them (a rotation); as many as the table has rows or more: no PCA; None: none."""
    if pca_dims is None:
        return embeddings
    n, d = embeddings.shape
    k = min(int(pca_dims), d)
    if k >= n:
        return embeddings
    x = embeddings.astype(np.float64)
    centred = x - x.mean(axis=0)
    eigvals, eigvecs = np.linalg.eigh(centred.T @ centred / (n - 1))
    components = eigvecs[:, ::-1][:, :k]
    scores = centred @ components
    signs = np.sign(scores[np.argmax(np.abs(scores), axis=0), np.arange(k)])
    return (scores * np.where(signs == 0, 1.0, signs)).astype(np.float32)


def distill_static(
    source_folder: Path | str,
    out_folder: Path | str,
    pca_dims: int | None = 256,
    sif_coefficient: float | None = SIF_COEFFICIENT,
    token_remove_pattern: str | None = UNUSED_TOKENS,
    dtype: str = "float16",
    batch_size: int = 256,
    progress: Progress | None = None,
    name: str | None = None,
) -> Path:
    """Distil the encoder at `source_folder` (a local sentence-transformers or transformers folder) into a static
    table at `out_folder`, in model2vec's folder format (see the module's docstring for the recipe). The folder
    is written beside its place and moved there when complete (an existing one is replaced), so a half-built
    table is never where a loader looks. `progress(done, total)` counts the tokens through the encoder; `name` is
    the encoder's name in the table's config.json (default: its folder's name)."""
    if sif_coefficient is not None and not 0 < sif_coefficient < 1:
        raise ValueError(f"The SIF coefficient must lie between 0 and 1 (exclusive), got {sif_coefficient}.")
    if pca_dims is not None and int(pca_dims) < 1:
        raise ValueError(f"The number of PCA dimensions must be at least 1, got {pca_dims}.")
    if dtype not in ("float16", "float32"):
        raise ValueError(f"A static table is stored as float16 or float32, not {dtype!r}.")
    source, target = Path(source_folder), Path(out_folder)
    tokenizer, model = _load_encoder(source)
    tokens, spec, sequences = prune_vocabulary(tokenizer, token_remove_pattern)
    vectors = token_embeddings(model, sequences, batch_size, progress)
    weights = zipf_weights(len(vectors), sif_coefficient)
    vectors = (pca(vectors, pca_dims) * weights[:, None]).astype(dtype)
    config = {
        "model_type": "model2vec",
        "architectures": ["StaticModel"],
        "tokenizer_name": name or source.name,
        "apply_pca": pca_dims,
        "sif_coefficient": sif_coefficient,
        "hidden_dim": int(vectors.shape[1]),
        "seq_length": 1000000,
        "normalize": True,
        "pooling": "mean",
        "embedding_dtype": dtype,
        "distilled_by": "core.teachers.static (model2vec's recipe, by hand)",
        "tokens": len(tokens),
    }
    from safetensors.numpy import save_file

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        tmp.chmod(0o755)  # mkdtemp's folder is private; the table is for every user of the lab
        save_file({"embeddings": np.ascontiguousarray(vectors)}, str(tmp / "model.safetensors"))
        (tmp / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False))
        (tmp / "config.json").write_text(json.dumps(config, indent=4))
        for name in FILES:  # save_file writes 0600: the table is for every user of the lab
            (tmp / name).chmod(0o644)
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.rename(tmp, target)  # same folder: atomic
        except OSError:
            if not static_ready(target):  # another process finished the same table first: keep it
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def build_static(
    source_folder: Path | str, out_folder: Path | str, progress: Progress | None = None, **options
) -> Path:
    """`distill_static` once: nothing is done when `out_folder` already holds a complete table."""
    if static_ready(out_folder):
        return Path(out_folder)
    return distill_static(source_folder, out_folder, progress=progress, **options)


# ---- reading it -------------------------------------------------------------------------------------


class StaticTeacher:
    """A static table as a teacher (or cheap model): tokens -> rows -> mean -> unit row, as model2vec's
    `StaticModel.encode` (float32 sums). A text with no known token gets a zero row."""

    def __init__(self, folder: Path | str, teacher_id: str | None = None, batch_size: int = 1024):
        from safetensors import safe_open
        from tokenizers import Tokenizer

        folder = Path(folder)
        if not static_ready(folder):
            raise TeacherUnavailable(f"No static model at {folder} (it needs {', '.join(FILES)}).")
        try:
            with safe_open(str(folder / "model.safetensors"), framework="numpy") as fh:
                names = set(fh.keys())
                table = fh.get_tensor("embeddings").astype(np.float32)
                weights = fh.get_tensor("weights") if "weights" in names else None
                mapping = fh.get_tensor("mapping") if "mapping" in names else None
            self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            json.loads((folder / "config.json").read_text())
        except Exception as err:  # safetensors, tokenizers and json each raise their own kinds
            raise TeacherUnavailable(
                f"The static model at {folder} cannot be read ({type(err).__name__}: {str(err)[:200]}); "
                "delete the folder and build it again."
            ) from None
        vocab = self.tokenizer.get_vocab()
        if mapping is not None:  # a vocabulary-quantized model2vec table: token -> cluster row
            table = table[np.asarray(mapping, dtype=np.int64)]
        if weights is not None:
            table = table * np.asarray(weights, dtype=np.float32)[:, None]
        if table.ndim != 2 or len(table) != len(vocab):
            raise TeacherUnavailable(
                f"The static model at {folder} has {len(table):,} rows for {len(vocab):,} tokens; build it again."
            )
        self.table = np.ascontiguousarray(table)
        self.dim = int(table.shape[1])
        self.id = teacher_id or f"static-{folder.name}"
        self.folder = folder
        self.batch_size = batch_size
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)
        spec = json.loads(self.tokenizer.to_str())
        unk = (spec.get("model") or {}).get("unk_token")
        self._unk = self.tokenizer.token_to_id(unk) if unk else None
        self._max_chars = MAX_TOKENS * int(np.median([len(t) for t in vocab]))  # StaticModel's character cut
        self._lower, self._whole = _whole_words(spec, vocab)

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids (no special tokens, no unknown token), from the tokenizer."""
        cut = [t[: self._max_chars] for t in texts]
        encodings = self.tokenizer.encode_batch_fast(cut, add_special_tokens=False)
        return [[i for i in e.ids if i != self._unk] for e in encodings]

    def _rows(self, texts: list[str]) -> np.ndarray:
        """The mean row of each text's tokens (zero when it has none): a whole word of the vocabulary is looked
        up directly, the rest go through the tokenizer and are averaged by length (as StaticModel buckets them)."""
        lower, whole = self._lower, self._whole
        single = np.fromiter(
            (whole.get(t.lower() if lower else t, -1) if t.isascii() and t.isalpha() else -1 for t in texts),
            dtype=np.int64,
            count=len(texts),
        )
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        hit = single >= 0
        out[hit] = self.table[single[hit]]
        rest = np.flatnonzero(~hit)
        if len(rest):
            ids = self.token_ids([texts[i] for i in rest])
            by_length: dict[int, list[int]] = {}
            for j, row in enumerate(ids):
                if row:
                    by_length.setdefault(len(row), []).append(j)
            for length, members in by_length.items():
                matrix = np.array([ids[j] for j in members], dtype=np.int64)
                out[rest[members]] = self.table[matrix].sum(axis=1) / length
        return out

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        texts = list(texts)
        chunks = []
        for start in range(0, len(texts), self.batch_size):
            chunks.append(self._rows(texts[start : start + self.batch_size]))
            if progress:
                progress(min(start + self.batch_size, len(texts)), len(texts))
        if not chunks:
            return np.zeros((0, self.dim), np.float32)
        return unit_rows(chunks[0] if len(chunks) == 1 else np.concatenate(chunks))


def _whole_words(spec: dict, vocab: dict[str, int]) -> tuple[bool, dict[str, int]]:
    """The vocabulary's whole words a text made only of ASCII letters maps to directly, skipping the tokenizer,
    and whether the text is lower-cased first. Only where that is exactly what the tokenizer would do: BERT's
    normalizer and pre-tokenizer (such a text passes unchanged but for the case, and is not split), WordPiece (a
    whole word in the vocabulary is its own longest match) and no added token made of letters alone (it could
    match inside the word). Elsewhere: no shortcut (an empty table)."""
    model, normalizer = spec.get("model") or {}, spec.get("normalizer") or {}
    usable = (
        model.get("type") == "WordPiece"
        and normalizer.get("type") == "BertNormalizer"
        and (spec.get("pre_tokenizer") or {}).get("type") == "BertPreTokenizer"
        and not any(
            str(a.get("content", "")).isascii() and str(a.get("content", "")).isalpha()
            for a in spec.get("added_tokens") or []
        )
    )
    if not usable:
        return False, {}
    lower = bool(normalizer.get("lowercase"))
    longest = int(model.get("max_input_chars_per_word") or 100)
    whole = {
        token: i
        for token, i in vocab.items()
        if token.isascii() and token.isalpha() and len(token) <= longest and (not lower or token == token.lower())
    }
    return lower, whole
