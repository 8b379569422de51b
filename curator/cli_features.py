"""`curator features DATASET` and `curator eval features DATA`: what does a dataset's labelling reward?

`curator features` computes (or, for the same dataset version and options, finds) the feature run
of a stored dataset with `curator.features.run_features` and prints its features: selected first,
then by p-value, with coefficient, interval, prevalence and name. `curator eval features` reports
the held-out share of the black-box probe's AUC the selected features explain on a file.
`curator.cli` registers them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from curator.cli_common import DEFAULT_DB, DbOpt, JsonOpt, QuietOpt, open_store
from curator.cli_options import config_options
from curator.signals.features import FeatureConfig

_HELP = FeatureConfig.help()  # the config's help text is the options' one description
EmbedderOpt = Annotated[str, typer.Option("--embedder", help=_HELP["embedder"])]
SeedOpt = Annotated[int, typer.Option("--seed", help=_HELP["seed"])]


@config_options(FeatureConfig, into="cfg", panel="Features (FeatureConfig)")
def features(
    dataset: Annotated[str, typer.Argument(metavar="DATASET", help="Dataset name (`curator stats` lists them).")],
    db: DbOpt = DEFAULT_DB,
    force: Annotated[bool, typer.Option("--force", help="Compute a new run even if one exists.")] = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    cfg: FeatureConfig | None = None,
) -> None:
    """Interpretable preference features of a dataset: what do its labels reward?

    A sparse autoencoder on the embedding differences of the two responses finds up to 32
    features; a length-controlled logistic model of the label gives each one's weight. The run is
    stored (the app's Features page shows it); the same dataset version and options print it again.
    """
    from curator.features import feature_report, run_features

    store = open_store(db)
    try:
        def progress(stage: str) -> None:
            if not quiet:
                typer.echo(f"features: {stage}…", err=True)

        outcome = run_features(store, dataset, cfg, force=force, on_progress=progress)
        report = feature_report(store, outcome.run.run_id)
    finally:
        store.close()
    report["cached"] = outcome.cached
    if as_json:
        typer.echo(json.dumps(report, default=str).replace("NaN", "null"))
        return
    _print_report(report)


def _print_report(report: dict[str, Any]) -> None:
    s = report["summary"]
    how = "cached" if report["cached"] else f"computed in {s.get('seconds')} s"
    typer.echo(f"{report['dataset']}: feature run {report['run_id']} ({how})")
    typer.echo(f"  probe AUC {s['auc_probe']:.3f} · selected features AUC {s['auc_features']:.3f} · explained share "
               f"{s['explained_share']:.0%} ({s.get('explained_share_with_length', float('nan')):.0%} with length) · "
               f"length alone {s['auc_length']:.3f} (held out, {s['n_test']:,} pairs)")
    typer.echo(f"  {s['n_features']} features · {s['n_dead']} dead · {s['n_duplicate']} duplicate · "
               f"{s['n_significant']} significant · {s['n_selected']} selected")
    typer.echo("  sel  latent  coef [95% interval]     p        prevalence  annotators prefer  name")
    for f in report["features"]:
        mark = "*" if f["selected"] else ("+" if f["significant"] else " ")
        coef = f"{f['coef']:+.2f} [{f['coef_low']:+.2f}, {f['coef_high']:+.2f}]" if f["coef"] is not None else "-"
        p = f"{f['p_value']:.1e}" if f["p_value"] is not None else "-"
        typer.echo(f"  {mark:>3}  {f['latent']:>6}  {coef:<22}  {p:<8} {f['prevalence']:>10.1%}  "
                   f"{(f['direction'] or '-') + ' of it':<17}  {f['name'] or ''}")


def eval_features(
    data: Annotated[Path, typer.Argument(metavar="DATA", exists=True, help="Preference pairs with labels (e.g. "
                                                                           "HH-RLHF helpful-base test.jsonl.gz).")],
    embedder: EmbedderOpt = "default",
    seed: SeedOpt = 0,
    holdout: Annotated[float, typer.Option("--holdout", min=0.05, max=0.8, help=_HELP["holdout"])] = 0.4,
    human_majority: Annotated[bool, typer.Option("--human-majority", help="Label unlabelled pairs by the human "
                                                                         "judgements' majority (PandaLM).")] = False,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Runs with consecutive seeds; means are "
                                                               "reported.")] = 1,
    describe_url: Annotated[str | None, typer.Option("--describe-url", help="OpenAI-compatible endpoint (e.g. "
                                                     "http://127.0.0.1:8000/v1) that writes and scores a one-line "
                                                     "description of each selected feature.")] = None,
    describe_model: Annotated[str, typer.Option("--describe-model", help="Model name sent to --describe-url.")]
    = "default",
    disagreements: Annotated[bool, typer.Option("--disagreements", help="Also weigh each human annotator on only "
                                                "the pairs where the human annotators disagree (PandaLM).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Held-out share of the full-embedding probe's AUC above 0.5 that the selected features recover."""
    from curator.evals.features import dumps, evaluate_features
    from curator.signals.features import FeatureConfig

    describe = None
    if describe_url:
        from curator.annotate.judges.openai_compat import OpenAIJudge

        judge = OpenAIJudge(describe_url, describe_model, max_tokens=60)
        describe = lambda prompt: judge.ask(prompt)["content"]  # noqa: E731
    try:
        result = evaluate_features(data, FeatureConfig(embedder=embedder, seed=seed, holdout=holdout),
                                   label_from="human-majority" if human_majority else None, seeds=seeds,
                                   describe=describe, disagreements=disagreements)
    except ValueError as e:
        typer.echo(f"Error: {e}", err=True)
        raise typer.Exit(code=1) from None
    if as_json:
        typer.echo(dumps(result))
        return
    typer.echo(f"{data}: probe AUC {result['auc_probe']:.3f}, features AUC {result['auc_features']:.3f}, explained "
               f"share {result['explained_share']:.0%} ({result['n_selected']} features, {result['n_test']} held out, "
               f"{len(result['per_seed'])} seed(s), {result['total_seconds']} s)")
    for f in result["selected_features"]:
        said = f"  · LLM: {f['description']} (score {f['score']})" if f.get("description") else ""
        typer.echo(f"  {f['coef']:+.2f}  p={f['p_value']:.1e}  {f['prevalence']:.1%}  {f['name']}{said}")


def eval_principles(
    data: Annotated[Path, typer.Argument(metavar="DATA", exists=True, help="Preference pairs with labels.")],
    url: Annotated[str, typer.Option("--url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1.")],
    model: Annotated[str, typer.Option("--model", help="Model name sent to the endpoint.")] = "default",
    train: Annotated[int, typer.Option("--train", min=4, help="Comparisons principles are proposed from and voted "
                                                              "on.")] = 40,
    test: Annotated[int, typer.Option("--test", min=1, help="Held-out comparisons the constitution is scored "
                                                            "on.")] = 40,
    max_principles: Annotated[int, typer.Option("--max-principles", min=1, help="Longest constitution.")] = 5,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Inverse Constitutional AI: principles that explain the labels, and how well they reconstruct held-out ones."""
    from curator.annotate.judges.openai_compat import OpenAIJudge
    from curator.evals.features import load_pairs_and_judgements
    from curator.principles import compute_principles

    pairs, _ = load_pairs_and_judgements(data)
    judge = OpenAIJudge(url, model, max_tokens=80)
    cols = [pairs.column(c).to_pylist() for c in ("prompt", "response_a", "response_b", "label")]
    result = compute_principles(*cols, lambda p: judge.ask(p)["content"], n_train=train, n_test=test,
                                max_principles=max_principles, seed=seed)
    out = {"dataset": str(data), "principles": result.principles, "proposals": result.proposals,
           "reconstruction_accuracy": result.accuracy, "n_test": result.n_test, "requests": judge.requests_sent}
    if as_json:
        typer.echo(json.dumps(out))
        return
    typer.echo(f"{data}: {len(result.principles)} principles from {result.proposals} proposals; reconstruction "
               f"accuracy {result.accuracy} on {result.n_test} held-out pairs")
    for p in result.principles:
        typer.echo(f"  +{p['for']} -{p['against']} ={p['abstain']}  {p['principle']}")
