"""ONNX Runtime peer (inference only): the PyTorch modules of torch_models.py, loaded with
the shared weights, exported with torch.onnx.export (the TorchScript exporter, which
emits the ONNX GRU op with linear_before_reset=1: Keras' reset_after=True, and the ONNX
LSTM op for nn.LSTM), run by onnxruntime's CPU execution provider.

Threads: intra_op_num_threads=2, inter_op_num_threads=1, sequential execution.
"""

import os
import sys
import tempfile
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # noqa: E402
import numpy as np  # noqa: E402
import scenarios as sc  # noqa: E402

NAME = "onnxruntime"

try:
    import onnx  # noqa: E402
    import onnxruntime as ort  # noqa: E402
    import torch  # noqa: E402

    torch.set_num_threads(1)  # torch only exports here
    from torch_models import GRUStep, OutputsOnly, S2Net, S2Probs, single_rnn  # noqa: E402
    _SETUP_ERROR = None
except Exception as exc:
    _SETUP_ERROR = f"onnxruntime/onnx/torch do not import: {exc!r}"

_TMP = tempfile.mkdtemp(prefix="gru_bench_onnx_")


def info():
    return {"onnxruntime": ort.__version__, "onnx": onnx.__version__,
            "torch_exporter": torch.__version__, "numpy": np.__version__,
            "providers": ort.get_available_providers(), "intra_op_num_threads": common.THREADS,
            "inter_op_num_threads": 1}


def export(ctx, module, args, input_names, filename, op="GRU"):
    """Exports the module, checks that the graph runs the recurrence as ONNX ``op`` ops (a
    GRU with linear_before_reset=1), and opens an InferenceSession on it."""
    path = os.path.join(_TMP, filename)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), args, path, dynamo=False, opset_version=17,
                          input_names=list(input_names), output_names=["out"])
    model = onnx.load(path)
    rnns = [n for n in model.graph.node if n.op_type == op]
    ctx.result["onnx_graph"] = {"ops": [n.op_type for n in model.graph.node], "opset": 17}
    if not rnns:
        raise RuntimeError(f"exported graph has no {op} op")
    if op == "GRU":
        lbr = [next((onnx.helper.get_attribute_value(a) for a in n.attribute
                     if a.name == "linear_before_reset"), 0) for n in rnns]
        ctx.result["onnx_graph"]["gru_linear_before_reset"] = lbr
        if any(v != 1 for v in lbr):
            raise RuntimeError(f"exported graph has GRU ops {lbr}, expected "
                               "linear_before_reset=1")
    so = ort.SessionOptions()
    so.intra_op_num_threads = common.THREADS
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def forward(ctx, name):
    layer = sc.LAYERS[name]
    m = OutputsOnly(single_rnn(name, sc.layer_weights(ctx.data, name)))
    x = ctx.data[f"{name}/x"]
    sess = export(ctx, m, (torch.from_numpy(x),), ["x"], f"{name}_forward.onnx", op=layer)
    ctx.result["api"] = f"InferenceSession.run on the exported nn.{layer}"

    def run():
        return sess.run(None, {"x": x})[0]

    ctx.check("outputs", run(), ctx.ref[f"{name}/outputs"])
    ctx.time(run)


def s2_predict(ctx):
    p = sc.S2
    B = p["B"]
    net = S2Probs(S2Net(p).load_keras(sc.s2_weights(ctx.data)))
    x = ctx.data["S2/x"]
    sess = export(ctx, net, (torch.from_numpy(x[:B]),), ["x"], "S2_predict.onnx")
    batches = [np.ascontiguousarray(x[i:i + B]) for i in range(0, len(x), B)]
    ctx.result["api"] = "InferenceSession.run per 64-sample batch (exported S2 model " \
                        "with softmax)"

    def predict(bs):
        return np.concatenate([sess.run(None, {"x": b})[0] for b in bs])

    n = sc.S2_CHECK_SAMPLES
    ctx.check("predict", predict(batches[:n // B]), ctx.ref["S2/predict"])
    ctx.time(lambda: predict(batches), warmup=1, min_time=min(ctx.args.min_time, 0.5))
    ctx.result["samples_per_s"] = len(x) / ctx.result["median_s"]


def s3_step_calls(ctx):
    p = sc.S3
    gru = single_rnn("S3", sc.layer_weights(ctx.data, "S3"))
    x = ctx.data["S3/x"]
    steps = [np.ascontiguousarray(x[:, i:i + 1]) for i in range(p["T"])]
    h0 = np.zeros((1, p["B"], p["H"]), np.float32)
    sess = export(ctx, GRUStep(gru), (torch.from_numpy(steps[0]), torch.from_numpy(h0)),
                  ["x", "h"], "S3_step.onnx")
    ctx.result["api"] = "InferenceSession.run of a one-step GRU model, called 100 times " \
                        "carrying h"

    def run():
        h = h0
        outs = []
        for xt in steps:
            h = sess.run(None, {"x": xt, "h": h})[0]
            outs.append(h)
        return outs

    ctx.check("outputs", np.stack([o[0] for o in run()], axis=1), ctx.ref["S3/outputs"])
    ctx.time(run)


def inference_only(ctx):
    raise common.Unsupported("inference only")


TASKS = {
    "S1.forward": lambda ctx: forward(ctx, "S1"),
    "S1.train_step": inference_only,
    "S1L.forward": lambda ctx: forward(ctx, "S1L"),
    "S2.fit_epoch": inference_only,
    "S2.predict": s2_predict,
    "S2R.fit_epoch": inference_only,
    "S2D.fit_epoch": inference_only,
    "S2M.fit_epoch": inference_only,
    "S3.forward": lambda ctx: forward(ctx, "S3"),
    "S3.step_calls": s3_step_calls,
    "S3L.forward": lambda ctx: forward(ctx, "S3L"),
    "S4.train_step": inference_only,
}

if __name__ == "__main__":
    try:
        common.run_peer(NAME, info, TASKS, _SETUP_ERROR)
    finally:
        import shutil
        shutil.rmtree(_TMP, ignore_errors=True)
