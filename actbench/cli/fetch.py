"""``actbench download``, ``list``, ``pin`` and ``publish``: where tables come from."""

from __future__ import annotations

import argparse
from pathlib import Path

from actbench.cli._common import bench_args

__all__ = ["add_commands"]


def add_commands(sub) -> None:
    d = sub.add_parser(
        "download", help="fetch a paper table (cnn, resnet, vit) into the cache",
        description="Put the table of BENCH (cnn, resnet, vit) into the cache and print its path: from the Hub "
        "when this actbench's manifest publishes it (checked against its sha256), else from the authors' "
        "official release (download with resume, licence notice, conversion, checks). Afterwards "
        "ActBench(BENCH) opens it offline.")
    d.add_argument("bench", help="benchmark name: cnn, resnet or vit")
    d.add_argument("--force", action="store_true", help="fetch and convert again even if a copy is cached")
    d.add_argument("--source", help="the official JSON file to convert: a URL (a mirror) or a local path")
    d.add_argument("--keep-json", action="store_true", help="keep the downloaded official JSON in the cache")
    d.add_argument("--no-progress", action="store_true", help="no progress bars")
    bench_args(d)
    d.set_defaults(func=_cmd_download)

    ls = sub.add_parser("list", help="the known benchmarks, where each comes from, and whether it is cached",
                        description="List the benchmarks served by name: shipped with the package, on the Hub, "
                        "or fetched from the official release, and whether a copy is in the cache.")
    ls.add_argument("--cache-dir", type=Path, help="cache folder (default $ACTBENCH_CACHE or ~/.cache/actbench)")
    ls.set_defaults(func=_cmd_list)

    pin = sub.add_parser(
        "pin", help="(maintainers) pin the sha256 of a real official file so that downloads are verified",
        description="Write the sha256 and size of FILE, a real official release file of BENCH, into the pins "
        "file that ships with the package (actbench/data/official_pins.json in a source checkout, or --pins).")
    pin.add_argument("bench", help="cnn, resnet or vit")
    pin.add_argument("file", type=Path)
    pin.add_argument("--pins", type=Path, help="the pins file to write (default: the package's)")
    pin.set_defaults(func=_cmd_pin)

    pub = sub.add_parser(
        "publish", help="(maintainers) write the manifest of a folder of tables and upload it to the Hub",
        description="Validate every .h5 table in FOLDER, write FOLDER/manifest.json (sha256 and size per "
        "table), and upload the folder to the Hub dataset repository REPO_ID (needs a write token, "
        "e.g. from `huggingface-cli login`). Copy the written manifest to actbench/data/manifest.json "
        "for the next release.")
    pub.add_argument("folder", type=Path)
    pub.add_argument("--repo-id", required=True, help="Hub dataset repository, e.g. ORG/act-bench")
    pub.add_argument("--dry-run", action="store_true", help="write the manifest, upload nothing")
    pub.set_defaults(func=_cmd_publish)


def _cmd_download(args: argparse.Namespace) -> int:
    from actbench.sources.locate import fetch
    from actbench.sources.registry import BENCHMARKS

    spec = BENCHMARKS.get(args.bench)
    if spec is not None and spec.shipped:
        print(f"{args.bench!r} ships with the package: nothing to download. ActBench({args.bench!r}) opens it.")
        return 0
    path = fetch(args.bench, revision=args.revision, cache_dir=args.cache_dir, offline=args.offline,
                 source=args.source, accept_license=args.accept_license, force=args.force, keep_json=args.keep_json,
                 progress=not args.no_progress)
    print(path)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from actbench.sources import hub, official
    from actbench.sources.registry import BENCHMARKS, official_pin

    manifest = hub.load_manifest()
    print(f"{'name':<8} {'title':<24} {'comes from':<40} cached")
    for name, spec in BENCHMARKS.items():
        if spec.shipped:
            where, cached = "shipped with the package", "yes (shipped)"
        else:
            hit = official.cached_table(name, args.cache_dir) if spec.json_name else None
            if name in manifest.files:
                where = f"Hugging Face Hub ({manifest.repo_id})"
            else:
                pinned = "sha256 pinned" if official_pin(name) else "no checksum pinned"
                where = f"official release ({pinned})"
            cached = f"yes: {hit}" if hit else "no"
        print(f"{name:<8} {spec.title:<24} {where:<40} {cached}")
    return 0


def _cmd_pin(args: argparse.Namespace) -> int:
    from actbench.sources.official import pin

    entry = pin(args.bench, args.file, pins=args.pins)
    print(f"pinned {args.bench}: {entry['file']} sha256 {entry['sha256']}, {entry['size']:,} bytes")
    return 0


def _cmd_publish(args: argparse.Namespace) -> int:
    from actbench.sources.hub import publish

    man = publish(args.folder, repo_id=args.repo_id, dry_run=args.dry_run)
    print(man.model_dump_json(indent=2))
    print(f"wrote {args.folder / 'manifest.json'}" + (" (dry run: nothing uploaded)" if args.dry_run else
          f"; uploaded to {args.repo_id}@{man.revision}"))
    return 0
