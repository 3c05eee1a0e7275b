"""Convert a public PyTorch checkpoint (pickled .pt/.pth/.ckpt) into a d2c checkpoint folder.

    .venv/bin/python scripts/convert_checkpoint.py --kind vq|kl|gpt|mar --preset NAME IN.pt OUT_DIR
    .venv/bin/python scripts/convert_checkpoint.py --kind inception pt_inception-2015-12-05-6726825d.pth OUT_DIR

writes OUT_DIR/model.safetensors, OUT_DIR/ema.safetensors (when the checkpoint has EMA weights) and
OUT_DIR/config.json = {kind, preset, config, source}. `config` holds the fields to apply over the
preset: for vq/kl those read off the weight shapes (codebook size, widths, levels, channels), plus any
`--config '{"scaleFactor": 0.2325}'` given here; readers start from the preset and apply them.

How each reference saves its weights (this script unwraps all of them):
  - LlamaGen VQ (vq_ds16_c2i.pt) and GPT (c2i_B_256.pt): {"model": state_dict, ...}, optionally "ema";
    DeepSpeed runs save "module"; vq_train.py also stores the discriminator and optimizer (dropped).
  - MAR (mar_base.pth): {"model": ..., "model_ema": ...}; MAR's KL-16 (kl16.ckpt): {"model": ...},
    possibly with the training loss' discriminator under `loss.` (dropped for kind kl).
  - Lightning-style {"state_dict": ...}; DDP's `module.` and torch.compile's `_orig_mod.` prefixes.
  - pytorch-fid's FID Inception (pt_inception-2015-12-05-6726825d.pth, --kind inception, no preset): a
    bare state dict in torchvision's Inception3 names; the BatchNorm `num_batches_tracked` buffers, which
    inference never reads, are filled with 0 when the file lacks them, so d2c's InceptionV3 loads strictly.
The pickles are loaded with weights_only=True (argparse.Namespace allowed, as the repos save `args`);
--trust-pickle loads arbitrary pickles: only for files you trust.
"""

import argparse
import json
import os
import re
import sys

import torch
from safetensors.torch import save_file

MODEL_KEYS = ("model", "state_dict", "module", "net")
EMA_KEYS = ("model_ema", "ema", "ema_state_dict")
# The tokenizer modules; anything else in a tokenizer checkpoint (loss.*, discriminator) is training state.
TOKENIZER_PREFIXES = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.", "quantize.")
USAGE_WINDOW = 65536  # LlamaGen's quantize.codebook_used buffer


def load(path, trust):
    if trust:
        return torch.load(path, map_location="cpu", weights_only=False)
    torch.serialization.add_safe_globals([argparse.Namespace])
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - the message says what to do
        sys.exit(f"{path}: cannot be loaded with weights_only=True ({str(e).splitlines()[0]}); "
                 "if you trust the file, rerun with --trust-pickle")


def is_state_dict(d):
    return isinstance(d, dict) and len(d) > 0 and all(torch.is_tensor(v) for v in d.values())


def unwrap(ckpt):
    """(model state dict, ema state dict or None, the top-level key the model came from)."""
    if not isinstance(ckpt, dict):
        sys.exit(f"checkpoint is a {type(ckpt).__name__}, expected a dict")
    model, source = None, None
    for k in MODEL_KEYS:
        if is_state_dict(ckpt.get(k)):
            model, source = ckpt[k], k
            break
    if model is None:
        tensors = {k: v for k, v in ckpt.items() if torch.is_tensor(v)}
        if not tensors:
            sys.exit(f"no state dict found; top-level keys: {sorted(ckpt)[:20]}")
        model, source = tensors, "<top level>"
    ema = next((ckpt[k] for k in EMA_KEYS if is_state_dict(ckpt.get(k))), None)
    return model, ema, source


def clean(sd, kind, keep_dtype):
    out, dropped = {}, []
    for name, t in sd.items():
        name = re.sub(r"^(module\.|_orig_mod\.)+", "", name)
        if kind in ("vq", "kl") and not name.startswith(TOKENIZER_PREFIXES):
            dropped.append(name)
            continue
        if kind == "kl" and name.startswith("quantize."):
            dropped.append(name)
            continue
        if kind == "gpt" and (".kv_cache." in name or name == "freqs_cis"):
            # LlamaGen's inference caches, saved when setup_caches ran before torch.save
            dropped.append(name)
            continue
        t = t.detach().to("cpu")
        if t.is_floating_point() and not keep_dtype:
            t = t.float()
        out[name] = t.clone().contiguous()
    if kind == "vq" and "quantize.codebook_used" not in out and "quantize.embedding.weight" in out:
        # Checkpoints trained with codebook_show_usage=False lack the buffer our presets keep.
        out["quantize.codebook_used"] = torch.zeros(USAGE_WINDOW)
    if kind == "inception":
        fill_num_batches_tracked(out)
    return out, dropped


def fill_num_batches_tracked(sd):
    for name in [k for k in sd if k.endswith(".bn.running_mean")]:
        sd.setdefault(name[: -len("running_mean")] + "num_batches_tracked", torch.zeros((), dtype=torch.long))


def check_inception(sd):
    """The FID Inception's signature tensors, so a wrong .pth fails here rather than at load time."""
    expect = {"Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3), "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
              "fc.weight": (1008, 2048)}
    for k, shape in expect.items():
        if k not in sd or tuple(sd[k].shape) != shape:
            got = tuple(sd[k].shape) if k in sd else "missing"
            sys.exit(f"not pytorch-fid's FID Inception: {k} is {got}, expected {shape} "
                     "(use pt_inception-2015-12-05-6726825d.pth from pytorch-fid's fid_weights release)")


def infer_vq(sd):
    n_levels = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"encoder\.conv_blocks\.(\d+)\.", k)))
    ch = sd["encoder.conv_in.weight"].shape[0]
    enc = [sd[f"encoder.conv_blocks.{i}.res.0.conv1.weight"].shape[0] // ch for i in range(n_levels)]
    dec = [sd[f"decoder.conv_blocks.{n_levels - 1 - i}.res.0.conv1.weight"].shape[0] // ch for i in range(n_levels)]
    nres = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"encoder\.conv_blocks\.0\.res\.(\d+)\.", k)))
    return {
        "codebookSize": sd["quantize.embedding.weight"].shape[0],
        "codebookEmbedDim": sd["quantize.embedding.weight"].shape[1],
        "zChannels": sd["quant_conv.weight"].shape[1],
        "ch": ch,
        "encoderChMult": enc,
        "decoderChMult": dec,
        "numResBlocks": nres,
        "inChannels": sd["encoder.conv_in.weight"].shape[1],
        "outChannels": sd["decoder.conv_out.weight"].shape[0],
    }


def infer_kl(sd):
    n_levels = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"encoder\.down\.(\d+)\.", k)))
    ch = sd["encoder.conv_in.weight"].shape[0]
    embed = sd["post_quant_conv.weight"].shape[0]
    nres = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"encoder\.down\.0\.block\.(\d+)\.", k)))
    return {
        "embedDim": embed,
        "chMult": [sd[f"encoder.down.{i}.block.0.conv1.weight"].shape[0] // ch for i in range(n_levels)],
        "useVariational": sd["quant_conv.weight"].shape[0] == 2 * embed,
        "ch": ch,
        "numResBlocks": nres,
        "inChannels": sd["encoder.conv_in.weight"].shape[1],
        "outChannels": sd["decoder.conv_out.weight"].shape[0],
    }


def write_atomic(path, write):
    tmp = f"{path}.tmp-{os.getpid()}"
    write(tmp)
    os.replace(tmp, path)


def write_text(path, text):
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", required=True, choices=["vq", "kl", "gpt", "mar", "inception"])
    ap.add_argument("--preset", help="d2c preset name, e.g. vq16, kl16, gpt_b, mar_base (not for inception)")
    ap.add_argument("--config", default="{}", help="JSON object of config fields to record over the preset")
    ap.add_argument("--keep-dtype", action="store_true", help="keep half/bfloat16 weights (default: float32)")
    ap.add_argument("--trust-pickle", action="store_true", help="allow arbitrary pickles (trusted files only)")
    ap.add_argument("input")
    ap.add_argument("out_dir")
    a = ap.parse_args()
    if a.kind == "inception":
        a.preset = a.preset or "pt_inception"
    elif not a.preset:
        ap.error(f"--preset is required for --kind {a.kind}")
    try:
        overrides = json.loads(a.config)
        assert isinstance(overrides, dict)
    except (json.JSONDecodeError, AssertionError):
        sys.exit(f"--config must be a JSON object, got {a.config!r}")

    model_sd, ema_sd, source = unwrap(load(a.input, a.trust_pickle))
    model, dropped = clean(model_sd, a.kind, a.keep_dtype)
    if not model:
        sys.exit(f"no {a.kind} weights left after filtering (dropped {len(dropped)} keys, e.g. {dropped[:5]})")
    ema = clean(ema_sd, a.kind, a.keep_dtype)[0] if ema_sd is not None else None
    if a.kind == "inception":
        check_inception(model)
    config = {"vq": infer_vq, "kl": infer_kl}.get(a.kind, lambda _: {})(model)
    config.update(overrides)

    os.makedirs(a.out_dir, exist_ok=True)
    meta = {"format": "pt", "kind": a.kind, "preset": a.preset}
    write_atomic(os.path.join(a.out_dir, "model.safetensors"), lambda p: save_file(model, p, metadata=meta))
    if ema is not None:
        write_atomic(os.path.join(a.out_dir, "ema.safetensors"), lambda p: save_file(ema, p, metadata=meta))
    doc = {
        "kind": a.kind,
        "preset": a.preset,
        "config": config,
        "source": {"file": os.path.basename(a.input), "state_dict": source, "dropped_keys": len(dropped), "ema": ema is not None},
    }
    write_atomic(os.path.join(a.out_dir, "config.json"), lambda p: write_text(p, json.dumps(doc, indent=2) + "\n"))
    n = sum(t.numel() for k, t in model.items() if k != "quantize.codebook_used")
    print(f"{a.input} [{source}] -> {a.out_dir}: {len(model)} tensors, {n / 1e6:.2f}M parameters"
          f"{', ema' if ema is not None else ''}; dropped {len(dropped)} keys" + (f" (e.g. {dropped[:3]})" if dropped else ""))


if __name__ == "__main__":
    main()
