"""Imports every capability's tables so ``Base.metadata`` is complete (Alembic, tests)."""

from mingbai.accounts import models as _accounts  # noqa: F401
from mingbai.audit import models as _audit  # noqa: F401
from mingbai.auth import models as _auth  # noqa: F401
from mingbai.campaigns import models as _campaigns  # noqa: F401
from mingbai.catalog import models as _catalog  # noqa: F401
from mingbai.charging import models as _charging  # noqa: F401
from mingbai.db import Base
from mingbai.disputes import models as _disputes  # noqa: F401
from mingbai.messaging import models as _messaging  # noqa: F401
from mingbai.spam import models as _spam  # noqa: F401
from mingbai.subscriptions import models as _subscriptions  # noqa: F401
from mingbai.vault import models as _vault  # noqa: F401

metadata = Base.metadata
