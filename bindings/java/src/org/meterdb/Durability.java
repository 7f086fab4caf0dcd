package org.meterdb;

/** When a write is acknowledged relative to its fsync ({@code meterdb_durability}). */
public enum Durability {
    /** The WAL is synced before a write returns (the default). */
    SYNC(0),
    /** A background thread syncs the WAL every {@link Options#syncIntervalMs} milliseconds. */
    INTERVAL(1),
    /** The engine never syncs the WAL except on flush and close. */
    NONE(2);

    final int code;

    Durability(int code) {
        this.code = code;
    }
}
