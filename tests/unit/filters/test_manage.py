"""Adding, replacing and deleting rules: one config commit each, kept across a reload, applied at once."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from gnt.config.manager import ConfigManager
from gnt.db import SqliteWriter
from gnt.errors import OpPrereqError
from gnt.filters import manage, rules
from gnt.filters.gate import FilterGate


def master(cfg: ConfigManager, last_job_id: int = 7) -> Any:
    async def make() -> Any:
        return SimpleNamespace(cfg=cfg, queue=SimpleNamespace(last_job_id=last_job_id, filters=FilterGate()))

    return make


def test_rules_are_committed_applied_and_survive_a_reload(cfg: ConfigManager, config_writer: SqliteWriter) -> None:
    async def main() -> None:
        m = await master(cfg)()
        serial = cfg.serial
        uuid = await manage.replace_rule(m, None, {"action": "PAUSE", "priority": 4})
        assert cfg.serial == serial + 1
        rule = cfg.filters[uuid]
        assert (rule.watermark, rule.priority, rule.action) == (7, 4, "PAUSE")
        assert m.queue.filters.decide(SimpleNamespace(id=9, ops=[])).uuid == uuid  # the gate has it now

        m.queue.last_job_id = 12
        assert await manage.replace_rule(m, uuid.upper(), {"action": "RATE_LIMIT 3"}) == uuid
        assert (cfg.filters[uuid].watermark, cfg.filters[uuid].action) == (12, ["RATE_LIMIT", 3])
        assert cfg.filters[uuid].serial_no == 2

        again = ConfigManager(config_writer)
        again.load()
        assert again.filters[uuid].as_dict() == cfg.filters[uuid].as_dict()
        assert "filter" in again.snapshot() and uuid in again.snapshot()["filter"]

        await manage.delete_rule(m, uuid)
        assert cfg.filters == {} and m.queue.filters.decide(SimpleNamespace(id=9, ops=[])) is None
        with pytest.raises(OpPrereqError, match="not known"):
            await manage.delete_rule(m, uuid)

    asyncio.run(main())


def test_refused_input_changes_nothing(cfg: ConfigManager) -> None:
    async def main() -> None:
        m = await master(cfg)()
        serial = cfg.serial
        for uuid, body in ((None, {"action": "NOPE"}), ("bad-uuid", {}), (None, {"predicates": [["x", 1]]})):
            with pytest.raises(OpPrereqError):
                await manage.replace_rule(m, uuid, body)
        assert cfg.serial == serial and cfg.filters == {}

    asyncio.run(main())


def test_the_number_of_rules_is_bounded(cfg: ConfigManager, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manage, "MAX_RULES", 2)

    async def main() -> None:
        m = await master(cfg)()
        first = await manage.replace_rule(m, None, {})
        await manage.replace_rule(m, None, {})
        with pytest.raises(OpPrereqError, match="already has 2 filter rules"):
            await manage.replace_rule(m, None, {})
        assert await manage.replace_rule(m, first, {"action": "ACCEPT"}) == first  # replacing is still allowed

    asyncio.run(main())
    assert rules.MAX_RULES == 1000


def test_dry_run_checks_and_stores_nothing(cfg: ConfigManager) -> None:
    async def main() -> None:
        m = await master(cfg)()
        serial = cfg.serial
        uuid = await manage.replace_rule(m, None, {"action": "REJECT"}, dry_run=True)
        assert rules.check_uuid(uuid) == uuid
        with pytest.raises(OpPrereqError):
            await manage.replace_rule(m, None, {"action": "NOPE"}, dry_run=True)
        kept = await manage.replace_rule(m, None, {"action": "PAUSE"})
        await manage.delete_rule(m, kept, dry_run=True)
        assert list(cfg.filters) == [kept] and cfg.serial == serial + 1
        assert m.queue.filters.decide(SimpleNamespace(id=9, ops=[])).uuid == kept

    asyncio.run(main())
