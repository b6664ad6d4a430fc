"""The `nnscratch` command: train, evaluate and predict with recipes; sample and score
generative runs; inspect; fetch data.

Exit status: 0 on success, 2 on a usage error (argparse), 1 on a failure, reported as one
line without a traceback (set NNSCRATCH_DEBUG=1 to see the traceback instead).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

USER_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError, RuntimeError, OSError)


def _say(text: str) -> None:
    print(text, flush=True)


def _format_scores(scores: dict) -> str:
    return "  ".join(f"{k} {v:.4f}" for k, v in scores.items())


def _positive(kind, what: str, zero_allowed: bool = False):
    """An argparse type: a number of `kind` above zero (or at least zero), so that
    `--epochs 0` is a usage error (exit 2) caught before any data is loaded or a run
    folder made."""
    bound = ">= 0" if zero_allowed else "> 0"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        # `not >` also rejects nan
        if value is None or not (value >= 0 if zero_allowed else value > 0):
            raise argparse.ArgumentTypeError(f"expected {what} {bound}, got {text!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def cmd_train(args) -> int:
    import numpy as np

    from .models.runner import train_recipe

    # A diverging run is reported in one line (fit stops at the first non-finite loss),
    # not after a screen of NumPy's overflow warnings that led to it.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        summary = train_recipe(args.recipe, args.epochs, args.batch_size, args.lr, args.seed,
                               args.out, args.resume,
                               progress="lines" if not args.quiet else False, say=_say,
                               patience=args.patience, final=args.final or None,
                               diagnostics=args.diagnostics, device=args.device,
                               **_recipe_options(args))
    if "rank" in summary:  # a rank > 0 of mpiexec: rank 0 reports for the run
        return 0
    if "stopped" in summary:
        _say(summary["stopped"])
    epochs = summary["epochs"]
    _say(f"trained {args.recipe} for {epochs} epoch{'s' * (epochs != 1)} in "
         f"{summary['seconds']:.1f} s")
    if "test" in summary:
        _say(f"test: {_format_scores(summary['test'])}")
        if "accuracy" in summary["test"]:
            _say(f"test accuracy: {100 * summary['test']['accuracy']:.2f} %")
    elif "val" in summary:
        _say(f"validation (best epoch): {_format_scores(summary['val'])}")
    _say(f"run folder: {summary['folder']}")
    return 0


def _device(text: str) -> str:
    """--device: a device name, checked now (cuda without CuPy: a one-line error)."""
    from .backend import device

    try:
        return str(device(text))
    except (ValueError, RuntimeError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _recipe_options(args) -> dict:
    """The recipe options given on the command line (recipes refuse those they lack)."""
    options = {}
    if args.text is not None:
        path = Path(args.text)
        if not path.is_file():
            raise FileNotFoundError(f"--text: no file at {path}")
        options["text"] = str(path.resolve())
    if args.tokenizer is not None:
        options["tokenizer"] = args.tokenizer
    if args.shape is not None:
        options["shape"] = args.shape
    return options


def cmd_recipes(args) -> int:
    from .models import RECIPES

    for name, recipe in sorted(RECIPES.items()):
        _say(f"{name:12s} {recipe.description} (epochs {recipe.epochs}, batch "
             f"{recipe.batch_size}, lr {recipe.lr})")
    return 0


def cmd_evaluate(args) -> int:
    from .models.runner import load_trained, run_splits

    recipe, model, checkpoint = load_trained(args.run)
    splits = run_splits(recipe, checkpoint)
    data = splits.test if args.split == "test" else splits.val
    if data is None:
        raise ValueError(f"recipe {recipe.name} has no {args.split} split")
    scores = recipe.score(model, data)
    _say(f"{recipe.name} (epoch {checkpoint['epoch']}) on {args.split}: {_format_scores(scores)}")
    return 0


def _read_input(path: Path) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"no input file at {path}")
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, EOFError):  # numpy's message would suggest allow_pickle
            array = None
        if not isinstance(array, np.ndarray):  # also an .npz archive renamed to .npy
            raise ValueError(f"{path} is not a .npy file of one array")
        return array
    if path.suffix.lower() == ".png":
        from matplotlib import image

        try:
            return image.imread(path)  # floats in [0, 1] for PNG
        except Exception as error:  # Pillow raises SyntaxError, among others, for bad files
            raise ValueError(f"{path} is not a readable PNG image ({error})") from None
    raise ValueError(f"predict reads .png or .npy files, got {path.suffix or 'no suffix'}")


def cmd_predict(args) -> int:
    from .models.runner import load_trained
    from .train import predict

    recipe, model, _ = load_trained(args.checkpoint)
    outputs = predict(model, recipe.preprocess(_read_input(Path(args.file))))
    names = recipe.class_names
    for row in outputs:
        if recipe.classifier and row.ndim == 1 and row.size > 1:
            shifted = np.exp(row - row.max())
            probabilities = shifted / shifted.sum()
            best = int(probabilities.argmax())
            label = names[best] if names else str(best)
            _say(f"{label} ({100 * probabilities[best]:.1f} %)")
        else:
            _say(" ".join(f"{v:.6g}" for v in np.ravel(row)))
    return 0


def cmd_sample(args) -> int:
    from .models.runner import load_trained

    recipe, model, checkpoint = load_trained(args.run)
    model.to(args.device)  # sampled there; the samples come back to the host
    info = checkpoint.get("model_info") or {}
    if "tokenizer" in info:
        return _sample_text(args, model, info)
    points = hasattr(recipe, "sample_points")  # toy-ddpm's 2-d points, not images
    if not (points or hasattr(recipe, "sample_images")):
        raise ValueError(f"{args.run} is a run of {recipe.name}, not a generative run: "
                         "nothing to sample (sample from a language model, a VAE, a GAN or "
                         "a diffusion model)")
    what = "points" if points else "images"
    if args.out is None:
        raise ValueError(f"sample: {recipe.name} makes {what}; give --out FILE.png (a "
                         f"{'scatter' if points else 'grid'}) or --out FILE.npy (the {what})")
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".npy"):
        raise ValueError(f"sample: --out must end in .png or .npy, got {out.name!r}")
    diffusion = _diffusion_options(args, recipe)
    if points:
        samples = recipe.sample_points(model, args.count, seed=args.seed)
        _write_points(recipe, samples, out)
    else:
        samples = recipe.sample_images(model, args.count, seed=args.seed, **diffusion)
        columns = 10 if diffusion and diffusion.get("label") is None else 8  # a class a column
        _write_images(samples, out, columns)
    _say(f"{len(samples)} samples of {recipe.name} (epoch {checkpoint['epoch']}, seed "
         f"{args.seed}): {out}")
    return 0


def _diffusion_options(args, recipe) -> dict:
    """--class, --steps and --guidance as sample_images' keywords, for a run that takes
    them (a class-conditional diffusion model, sampled by DDIM); a clear error for any
    other run given one of them."""
    given = {flag: value for flag, value in (("--class", args.label), ("--steps", args.steps),
                                             ("--guidance", args.guidance))
             if value is not None}
    if not hasattr(recipe, "denoise"):
        if given:
            raise ValueError(f"sample: {', '.join(given)} apply to a class-conditional "
                             f"diffusion run (fashion-ddpm), sampled by DDIM; this is a run "
                             f"of {recipe.name}")
        return {}
    return {"label": args.label, "steps": args.steps, "guidance": args.guidance}


def _write_points(recipe, points: np.ndarray, out: Path) -> None:
    """A scatter as PNG, or the (N, 2) float32 points as .npy, written atomically."""
    from .files import atomic_open

    if out.suffix.lower() == ".png":
        recipe.plot_points(points, out)
        return
    with atomic_open(out) as file:
        np.save(file, points.astype(np.float32), allow_pickle=False)


def _write_images(images: np.ndarray, out: Path, columns: int = 8) -> None:
    """A grid as PNG, or the (N, 1, 28, 28) float32 array as .npy, written atomically."""
    from .files import atomic_open
    from .tools import image_plots

    if out.suffix.lower() == ".png":
        image_plots.save_grid(images, out, columns=columns)
        return
    with atomic_open(out) as file:
        np.save(file, images, allow_pickle=False)


def _sample_text(args, model, info: dict) -> int:
    from .data.text import tokenizer_from_json
    from .models import generate

    tokenizer = tokenizer_from_json(info["tokenizer"], f"{args.run}")
    text = generate(model, args.prompt, args.tokens, temperature=args.temperature,
                    top_k=args.top_k, top_p=args.top_p, seed=args.seed, tokenizer=tokenizer)
    print(text, flush=True)
    return 0


def _images_to_score(args) -> tuple[np.ndarray, str]:
    """The images `score` judges: a .npy file's, or `--count` samples of a run."""
    path = Path(args.source)
    if path.suffix.lower() == ".npy" and not path.is_dir():
        return _read_input(path), path.name
    from .models.runner import load_trained

    recipe, model, checkpoint = load_trained(path)
    if not hasattr(recipe, "sample_images"):
        raise ValueError(f"{path} is a run of {recipe.name}, not a generative run: nothing "
                         "to score (give a VAE or GAN run, or a .npy file of images)")
    images = recipe.sample_images(model, args.count, seed=args.seed)
    return images, f"{recipe.name} (epoch {checkpoint['epoch']}, {args.count} samples)"


def cmd_score(args) -> int:
    from .tools.fcd import reference_rows, score

    images, name = _images_to_score(args)
    rows = {name: score(images)}
    if not args.no_reference:
        rows.update(reference_rows(len(images)))
    width = max(len(row) for row in rows)
    _say(f"{'images':{width}s}  {'FCD':>9s}  {'coverage':>8s}  {'confidence':>10s}")
    for row, scores in rows.items():
        _say(f"{row:{width}s}  {scores['fcd']:9.3f}  {scores['coverage']:8.2f}  "
             f"{scores['confidence']:10.3f}")
    _say("FCD: the Frechet distance between the features of these images and of the "
         "Fashion-MNIST test set, in nnscratch's own classifier (lower is closer; it is not "
         "Inception-FID). coverage: exp(entropy) of the predicted classes, at most 10.")
    return 0


def cmd_lab(args) -> int:
    from . import labs

    if args.name is None:
        questions = labs.questions()
        width = max(len(name) for name in questions)
        for name, question in questions.items():
            _say(f"{name:{width}s}  {question}")
        _say("run one: nnscratch lab NAME [--quick] [--out FOLDER]")
        return 0
    summary = labs.run_lab(args.name, quick=args.quick, out=args.out, say=None)
    _say(summary["conclusion"])
    _say(f"lab folder: {summary['folder']} ({summary['seconds']:.1f} s)")
    return 0


def cmd_graph(args) -> int:
    """The graph of each loss one training step of a recipe backpropagates (batch of 2)."""
    from .models import get
    from .models.runner import one_step_losses
    from .tools import graph

    recipe = get(args.recipe)
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".svg", ".dot"):
        raise ValueError(f"graph: --out must end in .png, .svg or .dot, got {out.name!r}")
    model, losses = one_step_losses(recipe)
    paths = [out] + [out.with_name(f"{out.stem}-{i}{out.suffix}")
                     for i in range(2, len(losses) + 1)]
    for loss, path in zip(losses, paths, strict=True):
        graph(loss, path, model)
    _say(f"the graph of one training step of {recipe.name} (a batch of 2): "
         + ", ".join(map(str, paths)))
    return 0


def cmd_summary(args) -> int:
    from .models import get
    from .tools import summary

    recipe = get(args.recipe)
    _say(summary(recipe.build_model(), recipe.input_shape))
    return 0


def _image_size(text: str) -> tuple[int, int, int]:
    """An argparse type: CxHxW, e.g. 3x28x28 (malformed: a usage error, exit 2)."""
    parts = text.lower().split("x")
    if len(parts) != 3 or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise argparse.ArgumentTypeError(f"expected CxHxW of positive ints, e.g. 3x28x28, "
                                         f"got {text!r}")
    return tuple(int(part) for part in parts)


_image_size.__name__ = "CxHxW"


def _padding(text: str):
    """An argparse type: a whole number >= 0, 'same' or 'valid'."""
    if text in ("same", "valid"):
        return text
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected an int >= 0, 'same' or 'valid', got {text!r}")
    return int(text)


def cmd_shape(args) -> int:
    from .tools import conv_output_shape, pool_output_shape

    channels, *size = args.input
    padding = args.padding
    if args.layer == "conv2d":
        if args.out_channels is None:
            raise ValueError("shape conv2d needs --out-channels")
        out = conv_output_shape(tuple(size), args.kernel, args.stride or 1, padding,
                                args.dilation)
        channels = args.out_channels
    else:
        out = pool_output_shape(tuple(size), args.kernel, args.stride, padding, args.dilation,
                                args.ceil_mode)
    _say("x".join(map(str, (channels, *out))))
    return 0


def cmd_data_fetch(args) -> int:
    from .data import fetch_dataset

    path = fetch_dataset(args.name, args.dest)
    _say(f"{args.name}: {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    # Each command's function goes in `handler`, not `run`: `evaluate` has a positional
    # argument named `run`, whose value would replace the function.
    parser = argparse.ArgumentParser(
        prog="nnscratch", description="Train, evaluate and inspect nnscratch recipes.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a recipe into a run folder")
    train.add_argument("recipe", help="recipe name (see `nnscratch recipes`)")
    # None means "the recipe's default", or with --resume "what the resumed run used"
    # (its seed draws the data, its batch size the steps: both must stay the same).
    train.add_argument("--epochs", type=_positive(int, "a whole number"),
                       help="number of epochs in total (recipe default; with --resume the run's)")
    train.add_argument("--batch-size", type=_positive(int, "a whole number"),
                       help="batch size (recipe default)")
    train.add_argument("--lr", type=_positive(float, "a number"),
                       help="learning rate (recipe default)")
    train.add_argument("--seed", type=int, help="random seed (default 0; with --resume the "
                       "run's)")
    train.add_argument("--out", default="runs", help="folder for run folders (default runs)")
    train.add_argument("--resume", metavar="RUN", help="run folder (its last.npz) or checkpoint "
                       "to continue from, in its own folder, up to --epochs in total")
    train.add_argument("--patience", type=_positive(int, "a whole number", zero_allowed=True),
                       help="stop early after this many epochs "
                       "without improvement of the validation loss")
    train.add_argument("--text", metavar="FILE", help="language models: train on this text "
                       "file instead of the recipe's corpus")
    train.add_argument("--tokenizer", metavar="KIND", help="char-gpt: 'char' (default) or "
                       "'bpe' (byte-pair tokens learned from the training text; the metric is "
                       "then bits per byte)")
    train.add_argument("--shape", metavar="NAME", help="toy-ddpm: 'moons' (default) or "
                       "'rings'")
    train.add_argument("--final", action="store_true", help="after choosing settings on "
                       "validation: train on training + validation data for those epochs and "
                       "score the test set once")
    train.add_argument("--diagnostics", action="store_true", help="record gradient and "
                       "activation statistics per layer: gradients.png and activations.png "
                       "in the run folder")
    train.add_argument("--device", type=_device, help="where the model trains: cpu "
                       "(default), cuda (a GPU through CuPy), cuda:N, or strict (the "
                       "stand-in device of the tests)")
    train.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    train.set_defaults(handler=cmd_train)

    recipes = commands.add_parser("recipes", help="list the recipes")
    recipes.set_defaults(handler=cmd_recipes)

    evaluate = commands.add_parser("evaluate", help="evaluate a trained run or checkpoint")
    evaluate.add_argument("run", help="run folder (uses best.npz) or checkpoint file")
    evaluate.add_argument("--split", choices=("test", "val"), default="test")
    evaluate.set_defaults(handler=cmd_evaluate)

    predict = commands.add_parser("predict", help="predict the class of an image or array")
    predict.add_argument("checkpoint", help="run folder or checkpoint file")
    predict.add_argument("file", help="a .png image or a .npy array")
    predict.set_defaults(handler=cmd_predict)

    sample = commands.add_parser("sample", help="text from a language-model run, images "
                                 "from a VAE, GAN or diffusion run")
    sample.add_argument("run", help="run folder (its best.npz, else last.npz) or checkpoint "
                        "file")
    sample.add_argument("--prompt", default="\n", help="text to start from (default: a "
                        "new line)")
    sample.add_argument("--tokens", type=_positive(int, "a whole number", zero_allowed=True),
                        default=300, help="how many new tokens (default 300)")
    sample.add_argument("--temperature", type=_positive(float, "a number", zero_allowed=True),
                        default=0.8, help="0 is greedy; higher is more random (default 0.8)")
    sample.add_argument("--top-k", type=_positive(int, "a whole number"),
                        help="sample among the k most likely tokens only")
    sample.add_argument("--top-p", type=_positive(float, "a number"),
                        help="sample among the most likely tokens summing to p (0 < p <= 1)")
    sample.add_argument("--seed", type=_positive(int, "a whole number", zero_allowed=True),
                        default=0, help="random seed (default 0)")
    sample.add_argument("--count", type=_positive(int, "a whole number"), default=64,
                        help="images: how many (default 64)")
    sample.add_argument("--out", metavar="FILE", help="images: FILE.png (a grid) or FILE.npy "
                        "((N, 1, 28, 28) float32 in [0, 1])")
    sample.add_argument("--class", dest="label", type=_positive(int, "a whole number",
                                                                zero_allowed=True),
                        help="fashion-ddpm: images of this class (0-9; default: the "
                        "classes in turn)")
    sample.add_argument("--steps", type=_positive(int, "a whole number"),
                        help="fashion-ddpm: DDIM steps (1 to T; default 50)")
    sample.add_argument("--guidance", type=_positive(float, "a number", zero_allowed=True),
                        help="fashion-ddpm: classifier-free guidance scale w (0: "
                        "unconditional, 1: conditional; default 2)")
    sample.add_argument("--device", type=_device, default="cpu", help="where to sample: "
                        "cpu (default), cuda, cuda:N or strict")
    sample.set_defaults(handler=cmd_sample)

    score = commands.add_parser("score", help="sample quality (FCD, class coverage, "
                                "confidence) of a generative run or a .npy of images")
    score.add_argument("source", help="run folder, checkpoint, or .npy file of images "
                       "(N, 1, 28, 28) or (N, 28, 28) in [0, 1]")
    score.add_argument("--count", type=_positive(int, "a whole number"), default=5000,
                       help="samples drawn from a run (default 5000; a .npy is scored whole)")
    score.add_argument("--seed", type=_positive(int, "a whole number", zero_allowed=True),
                       default=0, help="random seed of a run's samples (default 0)")
    score.add_argument("--no-reference", action="store_true", help="skip the reference rows "
                       "(real, blurred and noise images)")
    score.set_defaults(handler=cmd_score)

    lab = commands.add_parser("lab", help="a learner's question answered by an experiment "
                              "(no name: the list)")
    lab.add_argument("name", nargs="?", help="the lab (see `nnscratch lab`)")
    lab.add_argument("--quick", action="store_true", help="a smaller run (seconds)")
    lab.add_argument("--out", default="runs", help="folder for lab folders (default runs)")
    lab.set_defaults(handler=cmd_lab)

    graph = commands.add_parser("graph", help="draw the computational graph of one "
                                "training step of a recipe")
    graph.add_argument("recipe")
    graph.add_argument("--out", default="graph.png", help="graph.png (default), .svg or .dot "
                       "(.svg needs Graphviz)")
    graph.set_defaults(handler=cmd_graph)

    summary = commands.add_parser("summary", help="layers, output shapes and parameters")
    summary.add_argument("recipe")
    summary.set_defaults(handler=cmd_summary)

    shape = commands.add_parser("shape", help="output size of a conv2d or maxpool2d layer")
    shape.add_argument("layer", choices=("conv2d", "maxpool2d"))
    shape.add_argument("--in", dest="input", type=_image_size, required=True,
                       help="input size CxHxW, e.g. 3x28x28")
    shape.add_argument("--out-channels", type=_positive(int, "a whole number"),
                       help="conv2d: number of filters")
    shape.add_argument("--kernel", type=_positive(int, "a whole number"), required=True)
    shape.add_argument("--stride", type=_positive(int, "a whole number"),
                       help="default 1 (conv2d) or the kernel size (maxpool2d)")
    shape.add_argument("--padding", type=_padding, default=0,
                       help="an int, or 'same'/'valid' (conv2d)")
    shape.add_argument("--dilation", type=_positive(int, "a whole number"), default=1)
    shape.add_argument("--ceil-mode", action="store_true", help="maxpool2d: round up")
    shape.set_defaults(handler=cmd_shape)

    data = commands.add_parser("data", help="data sets")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    fetch = data_commands.add_parser("fetch", help="obtain a data set's files if missing")
    fetch.add_argument("name", help="data set name, e.g. fashion-mnist")
    fetch.add_argument("--dest", help="folder to put the files in")
    fetch.set_defaults(handler=cmd_data_fetch)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except USER_ERRORS as error:
        if os.environ.get("NNSCRATCH_DEBUG"):  # a developer wants the traceback
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        one_line = " ".join(str(message).split())  # some messages list places on lines
        print(f"nnscratch: error: {one_line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nnscratch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
