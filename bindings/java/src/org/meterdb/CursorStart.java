package org.meterdb;

/** Where a new upload cursor starts ({@link MeterDb#createCursor}). */
public enum CursorStart {
    /** With the oldest change the write-ahead log still holds. */
    OLDEST(0),
    /** With the next change written. */
    NOW(1);

    final int code;

    CursorStart(int code) {
        this.code = code;
    }
}
