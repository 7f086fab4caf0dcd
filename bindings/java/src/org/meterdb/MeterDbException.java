package org.meterdb;

/**
 * A failed MeterDB call: the {@link Status} the C library returned and its message (the
 * calling thread's {@code meterdb_last_error}).
 */
public class MeterDbException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final Status status;

    public MeterDbException(Status status, String message) {
        super(status + ": " + message);
        this.status = status;
    }

    /** What the call returned. */
    public Status status() {
        return status;
    }

    /** Throws for a status other than MDB_OK, with this thread's last error message. */
    static void check(int code) {
        if (code != Lib.OK) {
            throw new MeterDbException(Status.of(code), Lib.str(Lib.meterdb_last_error()));
        }
    }
}
