package org.meterdb;

/** The status codes of the C ABI ({@code meterdb_status}), with their fixed values. */
public enum Status {
    OK(0),
    INVALID_ARGUMENT(1),
    NOT_FOUND(2),
    ALREADY_EXISTS(3),
    CORRUPTION(4),
    IO(5),
    LOCKED(6),
    POISONED(7),
    CLOSED(8),
    UNSUPPORTED_VERSION(9),
    STORAGE_FULL(10),
    CONFLICT(11),
    NULL_ARGUMENT(100),
    INVALID_UTF8(101),
    BUFFER_TOO_SMALL(102),
    PANIC(103),
    INTERNAL(104),
    /** The library was built without what the call needs (e.g. Parquet export). */
    UNSUPPORTED(105),
    /** A result has more rows than its limit (or than the whole-result functions' cap). */
    LIMIT(106),
    /** Memory for a result could not be allocated. */
    NO_MEMORY(107),
    /** A value this version of the binding does not know. */
    UNKNOWN(-1);

    /** The C value. */
    public final int code;

    Status(int code) {
        this.code = code;
    }

    /** The status with this C value ({@link #UNKNOWN} for an unknown one). */
    public static Status of(int code) {
        for (Status s : values()) {
            if (s.code == code) {
                return s;
            }
        }
        return UNKNOWN;
    }
}
