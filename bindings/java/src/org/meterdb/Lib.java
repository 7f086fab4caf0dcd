package org.meterdb;

import java.io.File;
import java.io.IOException;

import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.PointerByReference;

/**
 * The C functions of libmeterdb (bindings/c/include/meterdb.h), bound with JNA direct mapping.
 *
 * <p>Strings go in as NUL-terminated UTF-8 {@code byte[]} (see {@link #cstr}); {@code size_t}
 * is a Java {@code long} (64-bit platforms only, checked when loading); {@code uint32_t} point
 * ids are {@code int}; out-parameters are one-element arrays. The library is loaded from the
 * path in the system property {@code meterdb.lib} or the environment variable
 * {@code METERDB_LIB} (overrides), else from the jar (the JNA resource
 * {@code linux-x86-64/libmeterdb.so}, extracted to a temporary file), else by name
 * ({@code libmeterdb.so} on {@code jna.library.path} or the system's library path).
 */
final class Lib {
    private Lib() {}

    static final int OK = 0;
    static final int BUFFER_TOO_SMALL = 102;

    /**
     * Where the library was loaded from: {@code "meterdb.lib"}, {@code "METERDB_LIB"},
     * {@code "jar"} or {@code "library path"}.
     */
    static final String ORIGIN;

    static {
        if (Native.POINTER_SIZE != 8) {
            throw new UnsatisfiedLinkError("the MeterDB Java binding needs a 64-bit JVM");
        }
        String path = System.getProperty("meterdb.lib");
        String origin = "meterdb.lib";
        if (path == null || path.isEmpty()) {
            path = System.getenv("METERDB_LIB");
            origin = "METERDB_LIB";
        }
        if (path == null || path.isEmpty()) {
            path = bundled();
            origin = "jar";
        }
        if (path == null) {
            path = "meterdb";
            origin = "library path";
        }
        NativeLibrary lib = NativeLibrary.getInstance(path);
        Native.register(Lib.class, lib);
        ORIGIN = origin;
    }

    /** The library in the jar, extracted to a temporary file, or null when the jar has none. */
    private static String bundled() {
        ClassLoader loader = Lib.class.getClassLoader();
        String resource = Platform.RESOURCE_PREFIX + "/" + System.mapLibraryName("meterdb");
        if (loader == null || loader.getResource(resource) == null) {
            return null;
        }
        try {
            File file = Native.extractFromResourcePath("meterdb", loader);
            file.deleteOnExit();
            return file.getAbsolutePath();
        } catch (IOException e) {
            UnsatisfiedLinkError err = new UnsatisfiedLinkError("cannot extract " + resource + " from the jar: " + e);
            err.initCause(e);
            throw err;
        }
    }

    /** A Java string as NUL-terminated UTF-8, or null for null. */
    static byte[] cstr(String s) {
        if (s == null) {
            return null;
        }
        byte[] b = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        byte[] out = new byte[b.length + 1];
        System.arraycopy(b, 0, out, 0, b.length);
        return out;
    }

    /** A C string the library owns, as a Java string. */
    static String str(Pointer p) {
        return p == null ? null : p.getString(0, "UTF-8");
    }

    static native Pointer meterdb_version();

    static native int meterdb_version_number();

    static native Pointer meterdb_last_error();

    static native Pointer meterdb_status_name(int status);

    static native int meterdb_options_new(PointerByReference out);

    static native void meterdb_options_free(Pointer opts);

    static native int meterdb_options_set_durability(Pointer opts, int mode);

    static native int meterdb_options_set_sync_interval_ms(Pointer opts, long ms);

    static native int meterdb_options_set_memtable_bytes(Pointer opts, long bytes);

    static native int meterdb_options_set_background(Pointer opts, int on);

    static native int meterdb_options_set_partition_ms(Pointer opts, long ms);

    static native int meterdb_options_set_compaction_trigger(Pointer opts, long files);
    static native int meterdb_options_set_flush_threads(Pointer opts, long threads);

    static native int meterdb_options_set_create_if_missing(Pointer opts, int create);

    static native int meterdb_options_set_tz_offset_min(Pointer opts, int minutes);

    static native int meterdb_options_set_tiers(Pointer opts, int tiers);

    static native int meterdb_db_open(byte[] path, Pointer opts, PointerByReference out);

    static native int meterdb_db_close(Pointer db);

    static native void meterdb_db_free(Pointer db);

    static native int meterdb_db_put(Pointer db, int point, long ts, double value, byte quality);

    static native int meterdb_db_write(
            Pointer db, int[] points, long[] ts, double[] values, byte[] quality, long n);

    static native int meterdb_db_write_point(
            Pointer db, int point, long[] ts, double[] values, byte[] quality, long n);

    static native int meterdb_db_delete_range(Pointer db, int point, long from, long to);

    static native int meterdb_db_latest(
            Pointer db, int point, long[] ts, double[] value, byte[] quality, int[] found);

    static native int meterdb_db_flush(Pointer db);

    static native int meterdb_db_compact(Pointer db);

    static native int meterdb_db_sync(Pointer db);

    static native int meterdb_db_verify(
            Pointer db, long[] nProblems, byte[] buf, long cap, long[] msgLen);

    static native int meterdb_db_define_point(
            Pointer db,
            byte[] key,
            int kind,
            byte[] unit,
            int precision,
            byte[] energyType,
            long intervalMs,
            double multiplier,
            Pointer tagKeys,
            Pointer tagValues,
            long nTags,
            int[] idOut);

    static native int meterdb_db_ensure_point(Pointer db, byte[] key, int[] idOut);

    static native int meterdb_db_point_id(Pointer db, byte[] key, int[] idOut);

    static native int meterdb_db_point_info(Pointer db, int id, PointerByReference out);

    static native void meterdb_point_info_free(Pointer info);

    static native int meterdb_db_list_points(
            Pointer db, byte[] keyPrefix, int kind, byte[] energyType, int[] ids, long cap, long[] nOut);

    static native int meterdb_db_range(Pointer db, int point, long from, long to, PointerByReference out);

    static native int meterdb_cursor_next(
            Pointer cursor, long[] ts, double[] values, byte[] quality, long cap, long[] nOut);

    static native void meterdb_cursor_free(Pointer cursor);

    /** {@code stats} is a long[6]: the layout of {@code meterdb_stats} (six uint64_t). */
    static native int meterdb_db_stats(Pointer db, long[] stats);

    static native int meterdb_db_stats_report(Pointer db, PointerByReference out);

    static native int meterdb_stats_report_point_count(Pointer report, long[] nOut);

    static native int meterdb_stats_report_point(Pointer report, long index, Pointer out);

    static native void meterdb_stats_report_free(Pointer report);

    static native int meterdb_db_define_point_v2(
            Pointer db,
            byte[] key,
            int kind,
            byte[] unit,
            int precision,
            byte[] energyType,
            long intervalMs,
            double multiplier,
            Pointer tagKeys,
            Pointer tagValues,
            long nTags,
            double rollover,
            long[] coalFrom,
            double[] coalKgce,
            long nCoal,
            int tiers,
            int[] idOut);

    static native int meterdb_db_point_info_v2(Pointer db, int id, PointerByReference out);

    static native void meterdb_point_info_v2_free(Pointer info);

    static native int meterdb_db_tz_offset_min(Pointer db, int[] out);

    static native int meterdb_db_rollup(Pointer db, int point, int tier, long from, long to, PointerByReference out);

    static native int meterdb_rollup_count(Pointer rollup, long[] nOut);

    static native int meterdb_rollup_rows(Pointer rollup, long first, Pointer out, long cap, long[] nOut);

    static native int meterdb_rollup_rows_v2(Pointer rollup, long first, Pointer out, long cap, long[] nOut);

    static native void meterdb_rollup_free(Pointer rollup);

    static native int meterdb_db_rollup_sum(
            Pointer db, int[] points, long nPoints, int tier, long from, long to, PointerByReference out);

    static native int meterdb_db_coal_sum(
            Pointer db, int[] points, long nPoints, int tier, long from, long to, int unit, PointerByReference out);

    static native int meterdb_rollup_sum_count(Pointer sum, long[] nOut);

    static native int meterdb_rollup_sum_rows(Pointer sum, long first, Pointer out, long cap, long[] nOut);

    static native int meterdb_rollup_sum_rows_v2(Pointer sum, long first, Pointer out, long cap, long[] nOut);

    static native void meterdb_rollup_sum_free(Pointer sum);

    static native int meterdb_db_set_point_register(Pointer db, int point, int register);

    static native int meterdb_db_point_register(Pointer db, int point, int[] out);

    static native int meterdb_db_replace_meter(Pointer db, int point, long ts, double oldFinal, double newInitial);

    static native int meterdb_db_forget_meter_replacement(Pointer db, int point, long ts);

    static native int meterdb_db_meter_replacements(
            Pointer db, int point, long[] ts, double[] oldFinal, double[] newInitial, long cap, long[] nOut);

    static native int meterdb_db_compare(
            Pointer db, int[] points, long nPoints, int tier, long from, long to, int coalUnit, PointerByReference out);

    static native int meterdb_comparison_count(Pointer comparison, long[] nOut);

    static native int meterdb_comparison_rows(Pointer comparison, long first, Pointer out, long cap, long[] nOut);

    static native void meterdb_comparison_free(Pointer comparison);

    // Store-and-forward: upload cursors, bundles, backup.

    static native int meterdb_db_upload_cursor_create(Pointer db, byte[] name, int start, long fromId);

    static native int meterdb_db_upload_cursor_drop(Pointer db, byte[] name);

    static native int meterdb_db_upload_cursor_read(Pointer db, byte[] name, long max, PointerByReference out);

    static native int meterdb_changes_count(Pointer changes, long[] n);

    static native int meterdb_changes_rows(Pointer changes, long first, Pointer out, long cap, long[] n);

    static native void meterdb_changes_free(Pointer changes);

    static native int meterdb_db_upload_cursor_ack(Pointer db, byte[] name, long upToId);

    static native int meterdb_db_upload_cursor_rewind(Pointer db, byte[] name);

    static native int meterdb_db_upload_cursor_read_buckets(
            Pointer db, byte[] name, int tier, long max, int hasWatermark, long watermark, PointerByReference out);

    static native int meterdb_bucket_changes_count(Pointer buckets, long[] n);

    static native int meterdb_bucket_changes_rows_v2(Pointer buckets, long first, Pointer out, long cap, long[] n);

    static native void meterdb_bucket_changes_free(Pointer buckets);

    static native int meterdb_db_upload_cursor_ack_buckets(Pointer db, byte[] name, int tier, long start, int point);

    static native int meterdb_db_backup(Pointer db, byte[] dir, Pointer report);

    static native int meterdb_db_export_bundle(
            Pointer db, byte[] path, int[] points, long nPoints, long from, long to, PointerByReference out);

    static native int meterdb_db_export_cursor_bundle(Pointer db, byte[] path, byte[] cursor, PointerByReference out);

    static native int meterdb_db_verify_bundle(Pointer db, byte[] path, PointerByReference out);

    static native int meterdb_db_import_bundle(Pointer db, byte[] path, PointerByReference out);

    static native int meterdb_bundle_report_totals(Pointer report, Pointer totals);

    static native void meterdb_bundle_report_free(Pointer report);
}
