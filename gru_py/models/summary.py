"""model.summary(): Keras' table of layers, output shapes and parameter counts, in text."""


def _format_size(count):
    """Bytes of float32 parameters in Keras' 1024-based units with two decimals."""
    size = float(count * 4)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024


def _shape_text(shape):
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(_shape_text(s) for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def _rows(model):
    """(name (Type), output shape, params) per layer, for built and unbuilt layers."""
    rows = []
    for layer in model.layers:
        shape = getattr(layer, "_output_shape", None)
        if shape is None and layer._inbound_nodes:
            outs = layer._inbound_nodes[-1].outputs
            shape = [t.shape for t in outs] if len(outs) > 1 else outs[0].shape
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        rows.append((f"{layer.name} ({type(layer).__name__})", _shape_text(shape), params))
    return rows


def print_summary(model, line_length=None, positions=None, print_fn=None, show_trainable=False):
    """Prints the summary through print_fn (default print)."""
    print_fn = print_fn or print
    width = line_length or 88
    positions = positions or [0.45, 0.80, 1.0]
    cuts = [int(width * p) for p in positions]
    columns = ("Layer (type)", "Output Shape", "Param #")

    def line(cells):
        out, start = "", 0
        for cell, cut in zip(cells, cuts):
            out += str(cell).ljust(cut - start)[: cut - start]
            start = cut
        return out.rstrip()

    print_fn(f'Model: "{model.name}"')
    print_fn("━" * width)
    print_fn(line(columns))
    print_fn("━" * width)
    rows = _rows(model)
    for i, row in enumerate(rows):
        print_fn(line(row))
        print_fn(("─" if i < len(rows) - 1 else "━") * width)
    if not rows:
        print_fn("━" * width)
    total = sum(layer.count_params() for layer in model.layers if layer.built)
    trainable = sum(w.size for w in model.trainable_weights) if model.built else 0
    print_fn(f" Total params: {total:,} ({_format_size(total)})")
    print_fn(f" Trainable params: {trainable:,} ({_format_size(trainable)})")
    print_fn(f" Non-trainable params: {total - trainable:,} ({_format_size(total - trainable)})")
    optimizer = getattr(model, "optimizer", None)
    slots = optimizer.variables if optimizer is not None and getattr(optimizer, "built", False) \
        else None
    if slots:
        count = sum(v.size for v in slots)
        print_fn(f" Optimizer params: {count:,} ({_format_size(count)})")
