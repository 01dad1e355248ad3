"""An engine on each back-end in turn, with every table created."""

from __future__ import annotations

import pytest

from storage import models as m
from storage.db import make_engine


@pytest.fixture
def engine(any_db_url):
    engine = make_engine(any_db_url)
    m.Base.metadata.create_all(engine)
    yield engine
    engine.dispose()
