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


def _connections(layer):
    """Keras' "Connected to" cell: the tensors a functional layer call reads."""
    if not layer._inbound_nodes:
        return "-"
    node = layer._inbound_nodes[-1]
    sources = [f"{t.node.layer.name}[{t.node.layer._inbound_nodes.index(t.node)}][{t.index}]"
               for t in node.all_inputs]
    return ", ".join(sources) or "-"


def _rows(model, functional):
    """(name (Type), output shape, params[, connected to]) per layer."""
    rows = []
    for layer in model.layers:
        shape = getattr(layer, "_output_shape", None)
        if shape is None and layer._inbound_nodes:
            outs = layer._inbound_nodes[-1].outputs
            shape = [t.shape for t in outs] if len(outs) > 1 else outs[0].shape
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        row = (f"{layer.name} ({type(layer).__name__})", _shape_text(shape), params)
        rows.append(row + (_connections(layer),) if functional else row)
    return rows


def print_summary(model, line_length=None, positions=None, print_fn=None, show_trainable=False):
    """Prints the summary through print_fn (default print)."""
    print_fn = print_fn or print
    # Keras: sequential-like models get three columns, functional graphs a fourth.
    functional = getattr(model, "_graph", None) is not None
    width = line_length or (108 if functional else 88)
    positions = positions or ([0.3, 0.6, 0.7, 1.0] if functional else [0.45, 0.80, 1.0])
    cuts = [int(width * p) for p in positions]
    columns = ("Layer (type)", "Output Shape", "Param #") + (
        ("Connected to",) if functional else ())

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
    rows = _rows(model, functional)
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
