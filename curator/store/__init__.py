"""The store: DuckDB tables, migrations and queries. The only package that runs SQL."""

from __future__ import annotations

from curator.store.annotate import AnnotateMixin
from curator.store.browse import BrowseMixin
from curator.store.core import Store as _Core
from curator.store.curate import CurateMixin
from curator.store.features import FeatureRun, FeaturesMixin
from curator.store.jobs import Job, JobsMixin
from curator.store.judgement_import import JudgementImportMixin, JudgementImportResult
from curator.store.pairs import DatasetSummary, IngestResult, PairsMixin
from curator.store.search import SearchMixin
from curator.store.signals import SignalRun, SignalsMixin


class Store(AnnotateMixin, BrowseMixin, CurateMixin, FeaturesMixin, JudgementImportMixin, PairsMixin, SearchMixin,
            SignalsMixin, JobsMixin, _Core):
    """A Curator database file; see `curator.store.core` for the concurrency contract."""


__all__ = ["DatasetSummary", "FeatureRun", "IngestResult", "Job", "JudgementImportResult", "SignalRun", "Store"]
