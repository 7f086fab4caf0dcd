package org.meterdb;

import com.sun.jna.Pointer;
import java.lang.ref.Cleaner;
import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * A read of one point's samples over {@code [from, to)} in time order, from the snapshot taken
 * when it was made ({@code meterdb_cursor}): later writes do not change what it returns, and it
 * keeps working after its database is closed.
 *
 * <p>Iterate it sample by sample ({@link Iterator}), or in bulk with {@link #read}. Not
 * thread-safe: use it from one thread at a time. Close it (try-with-resources) to release the
 * snapshot at once; an unclosed cursor is released when it is garbage-collected.
 */
public final class Cursor implements AutoCloseable, Iterator<Sample> {
    private static final int CHUNK = 4096;

    private final Pointer handle;
    private final Cleaner.Cleanable cleanable;
    private boolean closed;
    private final long[] nOut = new long[1];
    // The iterator's buffer.
    private long[] ts;
    private double[] values;
    private byte[] quality;
    private int pos;
    private int len;
    private boolean end;

    Cursor(Pointer handle) {
        this.handle = handle;
        this.cleanable = MeterDb.CLEANER.register(this, () -> Lib.meterdb_cursor_free(handle));
    }

    private void ensureOpen() {
        if (closed) {
            throw new MeterDbException(Status.CLOSED, "the cursor has been closed");
        }
    }

    /**
     * Copies the next samples into the arrays (quality may be null) and returns how many, up to
     * the shortest array's length; fewer than that (down to 0) means the end.
     */
    public int read(long[] ts, double[] values, byte[] quality) {
        ensureOpen();
        int cap = Math.min(ts.length, values.length);
        if (quality != null) {
            cap = Math.min(cap, quality.length);
        }
        if (cap == 0) {
            throw new IllegalArgumentException("read needs arrays of at least one element");
        }
        MeterDbException.check(Lib.meterdb_cursor_next(handle, ts, values, quality, cap, nOut));
        return (int) nOut[0];
    }

    /** Reads everything left, as columns. */
    public Columns readAll() {
        long[] t = new long[0];
        double[] v = new double[0];
        byte[] q = new byte[0];
        int n = 0;
        while (hasNext()) {
            int k = len - pos;
            if (n + k > t.length) {
                int cap = Math.max(2 * t.length, n + k);
                t = java.util.Arrays.copyOf(t, cap);
                v = java.util.Arrays.copyOf(v, cap);
                q = java.util.Arrays.copyOf(q, cap);
            }
            System.arraycopy(ts, pos, t, n, k);
            System.arraycopy(values, pos, v, n, k);
            System.arraycopy(quality, pos, q, n, k);
            n += k;
            pos = len;
        }
        return new Columns(
                java.util.Arrays.copyOf(t, n), java.util.Arrays.copyOf(v, n), java.util.Arrays.copyOf(q, n));
    }

    @Override
    public boolean hasNext() {
        ensureOpen();
        if (pos < len) {
            return true;
        }
        if (end) {
            return false;
        }
        if (ts == null) {
            ts = new long[CHUNK];
            values = new double[CHUNK];
            quality = new byte[CHUNK];
        }
        len = read(ts, values, quality);
        pos = 0;
        end = len < CHUNK;
        return len > 0;
    }

    @Override
    public Sample next() {
        if (!hasNext()) {
            throw new NoSuchElementException();
        }
        Sample s = new Sample(ts[pos], values[pos], quality[pos] & 0xff);
        pos++;
        return s;
    }

    /** Frees the cursor; closing twice does nothing. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            cleanable.clean();
        }
    }
}
