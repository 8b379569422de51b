"""`curator eval routing`, `curator queue ...`, `curator agreement`, `curator route`, `curator judge`:
annotation from the command line. `curator.cli` registers them.

Each command parses options, calls one function of `curator.annotate` / `curator.evals`, and prints
the result (one JSON object with --json).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from curator.cli_common import DEFAULT_DB, DbOpt, JsonOpt, json_safe, open_store, sub_app
from curator.signals import SignalConfig

queue_app = sub_app("Annotation queues: create one from a selection, follow its progress.")


def eval_noise(
    data: Annotated[Path, typer.Argument(metavar="DATA", exists=True, help="Labelled pairs, any file `curator "
                                                                           "ingest` reads (e.g. HH-RLHF).")],
    flip: Annotated[float, typer.Option("--flip", min=0.0, max=0.99, help="Share of labels flipped at random.")
                    ] = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the flips.")] = 0,
    limit: Annotated[int | None, typer.Option("--limit", min=10, help="Use the first N pairs.")] = None,
    flip_rate: Annotated[float | None, typer.Option("--flip-rate", help=SignalConfig.help()["flip_rate"])] = None,
    as_json: JsonOpt = False,
) -> None:
    """Flip a share of the labels, compute the signals with the default settings, and score how well the
    issue score and the app's "likely flipped" flag find the flips."""
    from curator.evals.noise import evaluate_noise, load_pairs

    cfg = SignalConfig() if flip_rate is None else SignalConfig(flip_rate=flip_rate)
    result = evaluate_noise(load_pairs(data, limit=limit), flip=flip, seed=seed, cfg=cfg)
    if as_json:
        typer.echo(json.dumps(json_safe(result)))
        return
    typer.echo(f"{data.name}: {result['n']:,} labelled pairs, {result['n_flipped']:,} flipped (seed {seed})")
    typer.echo(f"accuracy {result['accuracy']:.3f} · issue score AUROC {result['auroc']:.3f}, AUPRC "
               f"{result['auprc']:.3f}, precision@k {result['precision_at_k']:.3f}")
    typer.echo(f"'likely flipped' flag: precision {result['flag_precision']:.3f} (stated "
               f"{result['flag_estimated_precision']:.3f}), recall {result['flag_recall']:.3f}, "
               f"{result['flagged_share']:.1%} of pairs flagged")
    low, high = result["noise_rate_interval"]
    typer.echo(f"confident learning's noise rate {result['noise_rate']:.1%} [{low:.1%}, {high:.1%}] · chosen is the "
               f"shorter response in {result['flagged_chosen_shorter']:.0%} of flagged pairs "
               f"({result['chosen_shorter']:.0%} of all)")
    typer.echo(f"controlled for length: precision {result['lc_flag_precision']:.3f} (stated "
               f"{result['lc_flag_estimated_precision']:.3f}), recall {result['lc_flag_recall']:.3f}, "
               f"{result['lc_flagged_share']:.1%} flagged, chosen is shorter in "
               f"{result['lc_flagged_chosen_shorter']:.0%}")


def eval_routing(
    data: Annotated[Path, typer.Argument(metavar="DATA", exists=True, help="Pairs with human votes and AI verdicts "
                                                                           "(votes form, PandaLM, MT-Bench).")],
    budget: Annotated[float, typer.Option("--budget", "-b", min=0.0, max=1.0,
                                          help="Share of pairs sent to humans.")] = 0.25,
    judge: Annotated[str | None, typer.Option("--judge", help="The AI judge whose verdicts AI-routed pairs keep "
                                                              "(default: the first in the data).")] = None,
    random_draws: Annotated[int, typer.Option("--random-draws", min=1, help="Random baselines averaged.")] = 20,
    batch: Annotated[int | None, typer.Option("--batch", min=1, help="Pairs per routing round (default 1% of "
                                                                     "the pairs, at least 10).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the baselines and CV folds.")] = 0,
    reward_ensemble: Annotated[bool, typer.Option(
        "--reward-ensemble/--no-reward-ensemble",
        help="Add the embedded reward ensemble's margin and spread (trained on the AI verdicts) as features; "
             "it moved routed accuracy by -0.02..+0.02 on the shared data (bench/bench_routing.py).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Label accuracy (vs the human majority) when a budget of pairs goes to humans and the rest keeps
    the AI verdict: AI only, random human share, routed human share, over budgets 0.1..0.5."""
    from curator.evals.routing import evaluate_routing

    result = evaluate_routing(data, budget=budget, judge=judge, n_random=random_draws, seed=seed, batch_size=batch,
                              reward_ensemble=reward_ensemble)
    if as_json:
        typer.echo(json.dumps(json_safe(result)))
        return
    typer.echo(f"{result['dataset']}: {result['n']} pairs with a human majority ({result['left_out']} left out); "
               f"AI = {result['judge']}" + (f", features from {', '.join(result['other_judges'])}"
                                            if result["other_judges"] else ""))
    typer.echo(f"AI only {result['ai_only']:.3f}   human only 1.000")
    typer.echo("budget  random  routed  gap recovered  seed")
    for c in result["curve"]:
        typer.echo(f"{c['budget']:>6.2f}  {c['random']:.3f}   {c['routed']:.3f}   {c['gap_recovered']:>13.2f}  "
                   f"{c['seed_size']:>4}")


@queue_app.command("create")
def queue_create(
    name: Annotated[str, typer.Argument(help="Queue name.")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset whose pairs to queue.")],
    db: DbOpt = DEFAULT_DB,
    annotators: Annotated[int, typer.Option("--annotators", min=1, help="Different people per pair.")] = 1,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most this many pairs.")] = None,
    timeout: Annotated[int, typer.Option("--claim-timeout", min=1, help="Seconds before an unanswered item "
                                                                        "returns to the pool.")] = 1800,
    as_json: JsonOpt = False,
) -> None:
    """Create an annotation queue over a dataset's pairs (in source order)."""
    from curator.annotate.queue import create_queue
    from curator.schema import PairFilter

    store = open_store(db)
    try:
        info = create_queue(store, name=name, where=PairFilter(datasets=(dataset,)), annotators_per_pair=annotators,
                            claim_timeout_s=timeout, limit=limit, source="cli")
    finally:
        store.close()
    typer.echo(json.dumps({"queue_id": info.queue_id, "items": info.n_items}) if as_json
               else f"queue {info.queue_id}: {info.n_items} pairs x {annotators} annotator(s)")


@queue_app.command("progress")
def queue_progress_cmd(queue_id: Annotated[str, typer.Argument(help="Queue id.")], db: DbOpt = DEFAULT_DB,
                       as_json: JsonOpt = False) -> None:
    """Items, complete items, labels and per-annotator counts of a queue."""
    from curator.annotate.queue import queue_progress

    store = open_store(db)
    try:
        progress = queue_progress(store, queue_id)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(progress, default=str))
        return
    typer.echo(f"{queue_id}: {progress['complete_items']}/{progress['items']} items complete, "
               f"{progress['labels']}/{progress['slots']} labels, {progress['in_progress']} in progress")
    for a in progress["annotators"]:
        typer.echo(f"  {a['annotator']}: {a['labels']} labels, {a['skips']} skips")


def agreement(
    db: DbOpt = DEFAULT_DB,
    dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="Restrict to a dataset.")] = None,
    queue_id: Annotated[str | None, typer.Option("--queue", help="Restrict to a queue's pairs.")] = None,
    signal_run: Annotated[str | None, typer.Option("--run", help="Signal run whose reward margins weight the "
                                                                 "consensus (CROWDLAB).")] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Disputed pairs to list.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Inter-annotator agreement of the human labels: alpha, kappa, per-annotator, disputed pairs."""
    from curator.annotate.agreement import agreement_report

    store = open_store(db)
    try:
        report = agreement_report(store, dataset=dataset, queue_id=queue_id, signal_run=signal_run)
    finally:
        store.close()
    out = {"method": report.method, "pairs": report.n_pairs, "labels": report.n_labels, "alpha": report.alpha,
           "annotators": report.annotators, "kappa": report.kappa.tolist(),
           "per_annotator": report.per_annotator.to_dict("records"),
           "disputed": report.disputed(top).to_dict("records")}
    if as_json:
        typer.echo(json.dumps(json_safe(out), default=str))
        return
    typer.echo(f"{report.n_pairs} pairs, {report.n_labels} labels, Krippendorff's alpha {report.alpha:.3f} "
               f"(consensus: {report.method})")
    for row in out["per_annotator"]:
        typer.echo(f"  {row['annotator']}: {row['labels']} labels, agreement with consensus "
                   f"{row['agreement_with_consensus']:.2f}")


def route(
    budget: Annotated[float, typer.Option("--budget", "-b", help="Human share (0..1) or pair count (>1).")],
    db: DbOpt = DEFAULT_DB,
    dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="Dataset to route.")] = None,
    judge: Annotated[str | None, typer.Option("--judge", help="AI judge whose verdicts the AI share keeps.")] = None,
    signal_run: Annotated[str | None, typer.Option("--run", help="Signal run used as features.")] = None,
    queue: Annotated[str | None, typer.Option("--queue", help="Send the human share to a new queue of this "
                                                             "name.")] = None,
    annotators: Annotated[int, typer.Option("--annotators", min=1, help="People per pair in that queue.")] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Split a dataset into a human share (riskiest AI verdicts) and an AI share; optionally queue it."""
    from curator.annotate.routing_service import plan_from_store, send_human_share

    store = open_store(db)
    try:
        plan = plan_from_store(store, budget=int(budget) if budget > 1 else float(budget), judge=judge,
                               dataset=dataset, signal_run=signal_run)
        queued = send_human_share(store, plan, name=queue, annotators_per_pair=annotators) if queue else None
    finally:
        store.close()
    out = {"pairs": len(plan.pair_ids), "human": plan.budget, "ai": len(plan.pair_ids) - plan.budget,
           "predictor": plan.predictor.method, "labelled": plan.predictor.n_labelled,
           "expected_accuracy": round(plan.expected_accuracy, 4),
           "queue_id": queued.queue_id if queued else None}
    typer.echo(json.dumps(out) if as_json else
               f"{out['human']} pairs to humans, {out['ai']} to the AI (predictor: {out['predictor']}, "
               f"expected accuracy {out['expected_accuracy']:.3f})" + (f"; queue {out['queue_id']}" if queued else ""))


def judge(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset whose pairs to judge.")],
    db: DbOpt = DEFAULT_DB,
    reward_run: Annotated[str | None, typer.Option("--reward-run", help="Signal run: the reward ensemble's vote "
                                                                        "(offline, the default judge).")] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="OpenAI-compatible base URL, e.g. "
                                                                    "http://localhost:8000/v1.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Model name at the endpoint, or a local causal LM "
                                                              "(path or hub id) without --endpoint.")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Requests in flight.")] = 4,
    cache: Annotated[Path | None, typer.Option("--cache", help="Folder caching endpoint answers.")] = None,
    api_key_env: Annotated[str, typer.Option("--api-key-env", help="Environment variable holding the key.")
                           ] = "OPENAI_API_KEY",
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for one endpoint answer.")
                       ] = 60.0,
    retries: Annotated[int, typer.Option("--retries", min=0, help="Further attempts after a failed request (the "
                                                                  "server's Retry-After is honoured).")] = 4,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Judge at most this many pairs.")] = None,
    redo: Annotated[bool, typer.Option("--redo", help="Judge pairs that already have a verdict from this judge "
                                                      "again (default: skip them, so a rerun retries only failures).")
                    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write AI verdicts for a dataset's pairs: the reward-ensemble vote, an OpenAI-compatible endpoint
    (both orders, cached) or a local causal LM (both orders, confidence from the answer logits).

    Pairs that keep failing are listed by id and cost only themselves (exit code 1); the verdicts
    of the others are written, and running the same command again asks only for the failed pairs."""
    from curator.annotate.judges import LocalLMJudge, OpenAIJudge, RewardEnsembleJudge, run_judge
    from curator.schema import PairFilter

    chosen = [x for x in (reward_run, endpoint) if x] + ([model] if model and not endpoint else [])
    if len(chosen) != 1:
        raise typer.BadParameter("give exactly one of --reward-run, --endpoint (with --model) or --model (local).")
    store = open_store(db)
    try:
        if reward_run:
            judge_ = RewardEnsembleJudge(store, reward_run)
        elif endpoint:
            if not model:
                raise typer.BadParameter("--endpoint needs --model.")
            judge_ = OpenAIJudge(endpoint, model, api_key_env=api_key_env, concurrency=concurrency, cache_dir=cache,
                                 timeout_s=timeout, retries=retries)
        else:
            judge_ = LocalLMJudge(model)
        ids = store.select_pair_ids(PairFilter(datasets=(dataset,)), limit=limit)
        done = run_judge(store, judge_, ids, redo=redo)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps({"judge": judge_.name, "verdicts": done.written, "skipped": done.skipped,
                               "failed": done.failed}))
    else:
        typer.echo(f"{judge_.name}: {done.written:,} verdicts written"
                   + (f", {done.skipped:,} pairs skipped (judged before; --redo to judge again)" if done.skipped else ""))
    if done.failed:
        shown = "\n".join(f"  {pair_id}: {error}" for pair_id, error in list(done.failed.items())[:20])
        more = f"\n  ... and {len(done.failed) - 20:,} more" if len(done.failed) > 20 else ""
        typer.echo(f"{len(done.failed):,} pairs got no verdict:\n{shown}{more}\n"
                   "Run the same command again to retry only these pairs.", err=True)
        raise typer.Exit(1)
