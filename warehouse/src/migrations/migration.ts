/**
 * One step of the schema. Rules for writing one:
 * - versions only grow; a shipped migration is never edited (add a new one instead);
 * - every statement is idempotent (`IF NOT EXISTS`, `IF EXISTS`), because a crash between a
 *   statement and its record in `schema_migrations` re-runs the migration at the next open, and
 *   two instances opening at once may both run it;
 * - statements target current ClickHouse (23.8+; chDB is 26.x); no values in the SQL text.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly statements: readonly string[];
}
