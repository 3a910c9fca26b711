"""The pictures and cookbook pages of docs/, made from the catalogue so they stay current.

    python docs/tools/pictures.py graphs     # docs/img/graph/<spec>.svg (Graphviz) for GRAPHS and the cookbook
    python docs/tools/pictures.py pages      # docs/cookbook/<family>.md from COOKBOOK (no training)
    python docs/tools/pictures.py samples    # short real training runs: docs/img/cookbook/<spec>-*.png, report
    python docs/tools/pictures.py all
    python docs/tools/pictures.py pages --check   # exit 1 if a cookbook page is out of date (tests run this)

The training runs are short on purpose (a few hundred steps on two CPU cores, run with the
options in COOKBOOK); their samples show an early state of training. The full-length results
are in docs/training.md.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

IMG = ROOT / "docs" / "img"
PAGES = ROOT / "docs" / "cookbook"
GRAPHS = ["vae", "dcgan", "cdcgan", "wgan_gp", "ae_denoising"]  # shown in docs/language.md and README


@dataclass(frozen=True)
class Recipe:
    spec: str
    train: tuple[str, ...]  # options of the short run that makes the pictures
    note: str  # what this spec shows, one paragraph
    full: str | None = None  # a picture of a full-length run (made by bench.quality), under docs/img/


@dataclass(frozen=True)
class Family:
    page: str
    title: str
    intro: str
    recipes: tuple[Recipe, ...]


COOKBOOK = (
    Family("autoencoders", "Autoencoders",
           "An autoencoder is an `encoder` to a code and a `decoder` back, trained on a reconstruction loss. "
           "Regularised variants add a term on the code (`l1_activity`, `kl_sparsity`, `contractive`) or "
           "corrupt the input in `forward` (`masking_noise`, `gaussian_noise`, `salt_and_pepper`).",
           (Recipe("ae_conv", ("--epochs", "3", "--n", "2000"),
                   "Convolutions and max-pooling down to an 8x4x4 code, up-sampling back. The pictures show "
                   "each test digit beside its reconstruction."),
            Recipe("ae_denoising", ("--epochs", "3", "--n", "2000"),
                   "The same idea on vectors, trained to undo masking noise: `x_noisy = masking_noise(x, p=0.3)` "
                   "in `forward`, the loss against the clean `x`."))),
    Family("vaes", "Variational autoencoders",
           "A VAE's encoder returns two heads, `mu` and `logvar`; `z ~ normal(mu, logvar)` in `forward` "
           "samples with the reparameterisation trick, and `kl(z)` is the KL divergence to the latent's prior.",
           (Recipe("vae", ("--epochs", "10"),
                   "The 784-400-20 VAE of pytorch/examples. The pictures show samples from the prior and "
                   "reconstructions."),
            Recipe("cvae", ("--epochs", "3", "--n", "3000"),
                   "A conditional VAE: the label `y` enters both networks (`onehot`, `concat`)."))),
    Family("gans-toys", "GANs on 2-D toy data",
           "Two-dimensional mixtures of Gaussians (`ring8`, `grid25`) show at a glance which modes a GAN "
           "covers. A `generator` maps the latent to points, a `discriminator` (or `critic`) scores them, "
           "and `loss = gan(D(x), D(fake), objective)` names the objective.",
           (Recipe("gan_ring8", ("--epochs", "6", "--n", "5120"),
                   "The non-saturating GAN whose tanh bottleneck covers all 8 modes in a full run.",
                   "gan_ring8.png"),
            Recipe("wgan_gp_2d", ("--epochs", "6", "--n", "5120"),
                   "WGAN-GP: a `critic` without sigmoid, `gan(C(x), C(fake), wasserstein_gp, gp=0.1)` and "
                   "five critic steps per generator step.", "wgan_gp_2d_grid25.png"))),
    Family("gans-images", "Image GANs",
           "Convolutional GANs on 28x28 digits: transposed convolutions up, strided convolutions down, "
           "batch normalisation in the generator. These need thousands of steps before digits appear: the "
           "short runs below stop long before that, and their samples are still noise; train them fully to "
           "see digits.",
           (Recipe("dcgan_mnist", ("--epochs", "2", "--n", "1024"),
                   "The DCGAN of the TensorFlow tutorial."),
            Recipe("cdcgan", ("--epochs", "2", "--n", "1024"),
                   "A conditional DCGAN: the label is embedded and concatenated to the features of both "
                   "networks."))),
)


# ---- graphs ------------------------------------------------------------------------------

def graphs() -> None:
    from gendsl.driver import compile_path
    from gendsl.graph_view import graph_output

    if shutil.which("dot") is None:
        sys.exit("pictures: the graphs are drawn with Graphviz's `dot`: apt install graphviz")
    folder = IMG / "graph"
    folder.mkdir(parents=True, exist_ok=True)
    specs = list(dict.fromkeys(GRAPHS + [r.spec for f in COOKBOOK for r in f.recipes]))
    for spec in specs:
        result = compile_path(str(ROOT / "specs" / f"{spec}.gen"), emit_files=False)
        assert result.ok, spec
        (folder / f"{spec}.svg").write_bytes(graph_output(result.model, "svg", "dot"))
        print(f"wrote docs/img/graph/{spec}.svg")


# ---- short training runs -------------------------------------------------------------------

def samples(only: list[str] | None = None) -> None:
    from gendsl.runtime.report import write_report

    folder = IMG / "cookbook"
    folder.mkdir(parents=True, exist_ok=True)
    for family in COOKBOOK:
        for recipe in family.recipes:
            if only and recipe.spec not in only:
                continue
            with tempfile.TemporaryDirectory(prefix="gendsl-docs-") as tmp:
                out = Path(tmp) / "run"
                command = [sys.executable, "-m", "gendsl", "run", f"specs/{recipe.spec}.gen", "--no-write", "--",
                           *recipe.train, "--out", str(out), "--quiet"]
                print("running", " ".join(command[2:]), flush=True)
                subprocess.run(command, cwd=ROOT, check=True)
                grids = sorted((out / "samples").glob("*.png"))
                if grids:
                    shutil.copyfile(grids[-1], folder / f"{recipe.spec}-samples.png")
                if recipe.spec == "vae":  # one example report, linked from the tutorial
                    graph = IMG / "graph" / "vae.svg"
                    page = write_report(out, command=f"gendsl run specs/vae.gen -- {' '.join(recipe.train)}",
                                        graph=graph if graph.exists() else None, title=recipe.spec)
                    shutil.copyfile(page, ROOT / "docs" / "example-report.html")


# ---- pages -------------------------------------------------------------------------------

def page(family: Family) -> str:
    out = [f"# {family.title}", "",
           "<!-- Generated by docs/tools/pictures.py from specs/ and its COOKBOOK table; do not edit. -->", "",
           family.intro, ""]
    for recipe in family.recipes:
        spec = (ROOT / "specs" / f"{recipe.spec}.gen").read_text(encoding="utf-8")
        options = " ".join(recipe.train)
        out += [f"## {recipe.spec}", "", recipe.note, "",
                "```gen", spec.rstrip("\n"), "```", "",
                f"![the graph of {recipe.spec}](../img/graph/{recipe.spec}.svg)", "",
                f"A short run (`gendsl run specs/{recipe.spec}.gen -- {options}`; the last sample grid, "
                f"an early state of training):", "",
                f"![samples of {recipe.spec}](../img/cookbook/{recipe.spec}-samples.png)", ""]
        if recipe.full:
            out += ["A full-length run (`python -m bench.quality`, see [training.md](../training.md)):", "",
                    f"![a full run of {recipe.spec}](../img/{recipe.full})", ""]
        out += [f"Train it fully with `gendsl run specs/{recipe.spec}.gen --out runs/{recipe.spec}`, then "
                f"`gendsl report runs/{recipe.spec} --spec specs/{recipe.spec}.gen` writes the run's report.", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def index() -> str:
    out = ["# Cookbook", "", "<!-- Generated by docs/tools/pictures.py; do not edit. -->", "",
           "One page per model family: the spec, its graph and samples from a short real run.", ""]
    out += [f"- [{f.title}]({f.page}.md): " + ", ".join(f"`{r.spec}`" for r in f.recipes) for f in COOKBOOK]
    return "\n".join(out) + "\n"


def pages(check: bool = False) -> int:
    PAGES.mkdir(parents=True, exist_ok=True)
    wanted = {PAGES / f"{f.page}.md": page(f) for f in COOKBOOK}
    wanted[PAGES / "README.md"] = index()
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    if check:
        for p in stale:
            print(f"{p.relative_to(ROOT)} is out of date: run `python docs/tools/pictures.py pages`", file=sys.stderr)
        return 1 if stale else 0
    for p in stale:
        p.write_text(wanted[p], encoding="utf-8")
        print(f"wrote {p.relative_to(ROOT)}")
    return 0


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "all"
    if what in ("graphs", "all"):
        graphs()
    if what in ("pages", "all"):
        status = pages(check="--check" in argv)
        if status:
            return status
    if what in ("samples", "all"):
        samples(argv[1:] or None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
