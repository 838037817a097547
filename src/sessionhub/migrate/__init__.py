"""Migrate legacy session stores into sessionhub without signing anyone out (see docs/migration.md).

source = StarsessionsSource(user_key="user_id")
migrator = Migrator(source, Redis.from_url(legacy_url), manager,
                    checkpoint=RedisCheckpoint(client, key), ledger=RedisImportLedger(client, ledger_key))
report = await migrator.run(dry_run=True)   # what would happen; writes nothing
report = await migrator.run()               # resumable: run it again after an interruption
report = await migrator.run()               # a re-sync: what changed or was deleted in the source meanwhile
verified = await migrator.verify()
await migrator.delete_source(verified)      # refused unless the verification passed
"""

from sessionhub.migrate.checkpoint import Checkpoint, CheckpointState, MemoryCheckpoint, RedisCheckpoint
from sessionhub.migrate.ledger import ImportLedger, MemoryImportLedger, RedisImportLedger
from sessionhub.migrate.migrator import DEFAULT_BATCH_SIZE, MigrationError, Migrator
from sessionhub.migrate.readers import LegacyReader, PostgresReader, RedisReader, SqliteReader, open_reader
from sessionhub.migrate.records import FieldMap, LegacyRecord, RecordError
from sessionhub.migrate.report import DeleteReport, InvalidRecord, MigrationReport, VerifyReport
from sessionhub.migrate.sources import (
    DjangoCacheSource,
    DjangoDatabaseSource,
    FlaskSessionSource,
    JsonPrefixSource,
    KeySpace,
    MigrationSource,
    SeedsSource,
    StarsessionsSource,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "Checkpoint",
    "CheckpointState",
    "DeleteReport",
    "DjangoCacheSource",
    "DjangoDatabaseSource",
    "FieldMap",
    "FlaskSessionSource",
    "ImportLedger",
    "InvalidRecord",
    "JsonPrefixSource",
    "KeySpace",
    "LegacyReader",
    "LegacyRecord",
    "MemoryCheckpoint",
    "MemoryImportLedger",
    "MigrationError",
    "MigrationReport",
    "MigrationSource",
    "Migrator",
    "PostgresReader",
    "RecordError",
    "RedisCheckpoint",
    "RedisImportLedger",
    "RedisReader",
    "SeedsSource",
    "SqliteReader",
    "StarsessionsSource",
    "VerifyReport",
    "open_reader",
]
