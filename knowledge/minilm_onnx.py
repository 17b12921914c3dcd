"""all-MiniLM-L6-v2 as an ONNX graph, built from its safetensors weights with numpy and the
`onnx` package's helpers: no torch, no transformers. Django-free.

The graph is the BERT-base layout of the checkpoint's config.json (here 6 layers, 12 heads,
hidden 384, FFN 1536), followed by what sentence-transformers' Pooling and Normalize modules
do for this model:

    embeddings  word[input_ids] + position[0..seq) + token_type[token_type_ids] -> LayerNorm
    each layer  self-attention (Q K V projections, softmax(QKᵀ/√d + mask) V, output
                projection) -> residual + LayerNorm -> FFN (dense, GELU erf form, dense)
                -> residual + LayerNorm
    pooling     mean of the last hidden states over attention_mask, then L2-normalised

Inputs `input_ids`, `attention_mask`, `token_type_ids` (int64, [batch, seq], both dynamic);
output `embedding` (float32, [batch, 384]). The ops are the standard ones at opset 17 (the
same MatMul/Add/Softmax/LayerNormalization/Erf shapes a PyTorch export gives), so ONNX
Runtime's graph optimiser fuses them as it did the torch export, and onnxruntime's dynamic
quantisation makes the int8 query copy from this file as before.

Equality with sentence-transformers is proven against vectors it made once
(tests/fixtures/minilm_reference.json, bench/minilm_reference.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

# Bumped whenever the graph built here changes, so caches holding an older file are not reused.
GRAPH_VERSION = 2
OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "embedding"


def load_weights(model_dir: str | Path) -> dict[str, np.ndarray]:
    """The checkpoint's tensors as numpy arrays (safetensors' numpy API, no torch)."""
    from safetensors.numpy import load_file

    weights = load_file(str(Path(model_dir) / "model.safetensors"))
    # Some checkpoints prefix every name with the model type ("bert.embeddings...").
    return {name.removeprefix("bert."): array for name, array in weights.items()}


def build_model(model_dir: str | Path):
    """The sentence-embedding graph of the BERT checkpoint in `model_dir` (an onnx ModelProto)."""
    from onnx import TensorProto, helper, numpy_helper

    config = json.loads((Path(model_dir) / "config.json").read_text())
    if config.get("model_type") != "bert" or config.get("hidden_act", "gelu") != "gelu":
        raise ValueError(f"{model_dir} is not a BERT model with GELU: {config.get('model_type')}")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("only absolute position embeddings are supported")
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    layers = int(config["num_hidden_layers"])
    eps = float(config.get("layer_norm_eps", 1e-12))
    head_dim = hidden // heads
    weights = load_weights(model_dir)

    nodes: list = []
    initializers: list = []

    def const(name: str, array) -> str:
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def weight(name: str) -> str:
        return const(name, weights[name].astype(np.float32))

    def node(op: str, inputs: list[str], output: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def linear(x: str, prefix: str, out: str) -> str:
        """x @ Wᵀ + b (the weight stored transposed, as a PyTorch export stores it)."""
        w = const(f"{prefix}.weight.T", weights[f"{prefix}.weight"].astype(np.float32).T)
        return node("Add", [node("MatMul", [x, w], f"{out}/matmul"), weight(f"{prefix}.bias")], out)

    def split_heads(x: str, perm: tuple[int, ...]) -> str:
        """[batch, seq, hidden] -> [batch, seq, heads, head_dim], then transposed by `perm`."""
        split = node("Reshape", [x, "split_heads_i"], f"{x}/heads")
        return node("Transpose", [split], f"{x}/heads_t", perm=list(perm))

    def layer_norm(x: str, prefix: str, out: str) -> str:
        return node(
            "LayerNormalization",
            [x, weight(f"{prefix}.weight"), weight(f"{prefix}.bias")],
            out,
            axis=-1,
            epsilon=eps,
        )

    # Shared constants.
    const("one_f", np.array(1.0, dtype=np.float32))
    const("half_f", np.array(0.5, dtype=np.float32))
    const("sqrt2_f", np.array(math.sqrt(2.0), dtype=np.float32))
    const("scale_f", np.array(math.sqrt(head_dim), dtype=np.float32))
    const("mask_min_f", np.array(np.finfo(np.float32).min, dtype=np.float32))
    const("tiny_count_f", np.array(1e-9, dtype=np.float32))
    const("tiny_norm_f", np.array(1e-12, dtype=np.float32))
    const("zero_1d_i", np.array([0], dtype=np.int64))
    const("axis1_i", np.array([1], dtype=np.int64))
    const("axis2_i", np.array([2], dtype=np.int64))
    const("axes12_i", np.array([1, 2], dtype=np.int64))
    const("split_heads_i", np.array([0, 0, heads, head_dim], dtype=np.int64))
    const("merge_heads_i", np.array([0, 0, hidden], dtype=np.int64))

    # Embeddings: word + position (the first `seq` rows) + token type, then LayerNorm.
    shape = node("Shape", ["input_ids"], "emb/shape")
    seq_len = node("Slice", [shape, "axis1_i", "axis2_i"], "emb/seq_len")  # [seq]
    words = node("Gather", [weight("embeddings.word_embeddings.weight"), "input_ids"], "emb/word")
    # Position ids: the first `seq` of a constant 0..max-1 row, then gathered (not the table
    # sliced), so the int8 copy quantises the position table as it did the torch export's.
    max_positions = weights["embeddings.position_embeddings.weight"].shape[0]
    const("position_ids_all", np.arange(max_positions, dtype=np.int64)[None, :])
    position_ids = node(
        "Slice", ["position_ids_all", "zero_1d_i", seq_len, "axis1_i"], "emb/pos_ids"
    )
    positions = node(
        "Gather", [weight("embeddings.position_embeddings.weight"), position_ids], "emb/position"
    )
    types = node(
        "Gather",
        [weight("embeddings.token_type_embeddings.weight"), "token_type_ids"],
        "emb/token_type",
    )
    summed = node("Add", [node("Add", [words, positions], "emb/word_pos"), types], "emb/sum")
    x = layer_norm(summed, "embeddings.LayerNorm", "emb/out")

    # The attention mask as float [batch, seq], and as an additive bias [batch, 1, 1, seq]:
    # 0 where attended, the float32 minimum where padded (what transformers adds).
    mask = node("Cast", ["attention_mask"], "mask/float", to=TensorProto.FLOAT)
    masked = node("Sub", ["one_f", mask], "mask/inverted")
    bias = node(
        "Unsqueeze",
        [node("Mul", [masked, "mask_min_f"], "mask/bias_2d"), "axes12_i"],
        "mask/bias",
    )

    for i in range(layers):
        p = f"encoder.layer.{i}"
        name = f"layer{i}"
        # Self-attention; heads split as [batch, heads, seq, head_dim], keys as [.., head_dim, seq].
        q = split_heads(linear(x, f"{p}.attention.self.query", f"{name}/q"), (0, 2, 1, 3))
        k = split_heads(linear(x, f"{p}.attention.self.key", f"{name}/k"), (0, 2, 3, 1))
        v = split_heads(linear(x, f"{p}.attention.self.value", f"{name}/v"), (0, 2, 1, 3))
        scores = node("Div", [node("MatMul", [q, k], f"{name}/qk"), "scale_f"], f"{name}/scores")
        probs = node(
            "Softmax", [node("Add", [scores, bias], f"{name}/masked")], f"{name}/probs", axis=-1
        )
        context = node(
            "Reshape",
            [
                node(
                    "Transpose",
                    [node("MatMul", [probs, v], f"{name}/context_heads")],
                    f"{name}/context_t",
                    perm=[0, 2, 1, 3],
                ),
                "merge_heads_i",
            ],
            f"{name}/context",
        )
        attended = linear(context, f"{p}.attention.output.dense", f"{name}/attn_out")
        x = layer_norm(
            node("Add", [attended, x], f"{name}/attn_residual"),
            f"{p}.attention.output.LayerNorm",
            f"{name}/attn_norm",
        )
        # Feed-forward with GELU, erf form: 0.5 · h · (1 + erf(h / √2)).
        h = linear(x, f"{p}.intermediate.dense", f"{name}/ffn_in")
        erf = node("Erf", [node("Div", [h, "sqrt2_f"], f"{name}/gelu_scaled")], f"{name}/gelu_erf")
        gelu = node(
            "Mul",
            [
                node("Mul", [h, node("Add", [erf, "one_f"], f"{name}/gelu_1p")], f"{name}/gelu_h"),
                "half_f",
            ],
            f"{name}/gelu",
        )
        out = linear(gelu, f"{p}.output.dense", f"{name}/ffn_out")
        x = layer_norm(
            node("Add", [out, x], f"{name}/ffn_residual"),
            f"{p}.output.LayerNorm",
            f"{name}/out",
        )

    # Mean pooling over attended tokens, then L2 normalisation (sentence-transformers' Pooling
    # with pooling_mode_mean_tokens, and Normalize): sum(h·m) / max(sum(m), 1e-9), then
    # v / max(|v|, 1e-12).
    mask3 = node("Unsqueeze", [mask, "axis2_i"], "pool/mask")
    total = node(
        "ReduceSum", [node("Mul", [x, mask3], "pool/masked"), "axis1_i"], "pool/sum", keepdims=0
    )
    count = node(
        "Max",
        [node("ReduceSum", [mask3, "axis1_i"], "pool/count_raw", keepdims=0), "tiny_count_f"],
        "pool/count",
    )
    mean = node("Div", [total, count], "pool/mean")
    norm = node(
        "Max",
        [node("ReduceL2", [mean], "pool/norm_raw", axes=[1], keepdims=1), "tiny_norm_f"],
        "pool/norm",
    )
    node("Div", [mean, norm], OUTPUT)

    dims = ["batch", "seq"]
    graph = helper.make_graph(
        nodes,
        "all-MiniLM-L6-v2 sentence embedding",
        [helper.make_tensor_value_info(n, TensorProto.INT64, dims) for n in INPUTS],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", hidden])],
        initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="helpdesk.knowledge.minilm_onnx",
        producer_version=str(GRAPH_VERSION),
    )
    model.ir_version = 8  # opset 17's IR version: readable by every onnxruntime since 1.13
    return model


def write_model(model_dir: str | Path, path: str | Path) -> Path:
    """Build the graph and save it to `path` (checked with onnx's checker first)."""
    import onnx

    model = build_model(model_dir)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return Path(path)
