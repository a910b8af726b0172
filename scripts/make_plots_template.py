"""Write docs/dvc_plots_offline.html: the page `dvc plots show` fills, with Vega inlined.

DVC's own page loads Vega, Vega-Lite and Vega-Embed from a CDN, so it stays blank without
internet. This template carries the same versions DVC asks for (see dvc_render/vega.py),
taken from the npm registry, and omits DVC's `{scripts}` placeholder (the CDN tags).
.dvc/config points DVC at it (`plots.html_template`). Rebuild it when DVC changes versions:

    cd "$(mktemp -d)" && npm pack vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2
    python scripts/make_plots_template.py THAT_FOLDER

Vega, Vega-Lite and Vega-Embed are BSD-3-Clause licensed (University of Washington
Interactive Data Lab); their licence notices are kept in the page.
"""

from __future__ import annotations

import argparse
import tarfile
from pathlib import Path

PACKAGES = {"vega": "build/vega.min.js", "vega-lite": "build/vega-lite.min.js", "vega-embed": "build/vega-embed.min.js"}
OUT = Path(__file__).resolve().parent.parent / "docs" / "dvc_plots_offline.html"


def member(folder: Path, package: str, name: str) -> str:
    (tarball,) = folder.glob(f"{package}-[0-9]*.tgz")
    with tarfile.open(tarball) as archive:
        return archive.extractfile(f"package/{name}").read().decode("utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where `npm pack` left the three .tgz files")
    args = parser.parse_args()
    scripts = []
    for package, name in PACKAGES.items():
        licence = member(args.folder, package, "LICENSE").strip().replace("*/", "* /")
        code = member(args.folder, package, name).replace("</script", "<\\/script")
        scripts.append(f"<script>/* {package}: {licence} */\n{code}\n</script>")
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            "<html>",
            "<head>",
            "    {refresh_tag}",
            '    <meta charset="utf-8">',
            "    <title>dlnet: DVC plots</title>",
            *scripts,
            "    <style>table { border-spacing: 15px; }</style>",
            "</head>",
            "<body>",
            "    {plot_divs}",
            "</body>",
            "</html>",
            "",
        ]
    )
    for placeholder in ("{plot_divs}", "{refresh_tag}", "{scripts}"):
        assert page.count(placeholder) == (0 if placeholder == "{scripts}" else 1), placeholder
    OUT.write_text(page, encoding="utf-8")
    print(f"wrote {OUT.name} ({len(page) // 1024} KiB)")


if __name__ == "__main__":
    main()
