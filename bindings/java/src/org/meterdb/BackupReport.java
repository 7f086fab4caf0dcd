package org.meterdb;

/**
 * What {@link MeterDb#backup} did: immutable files hard-linked (copied where the file system
 * cannot link), files copied, and the log sequence number up to which every write is in the copy.
 */
public record BackupReport(long linkedFiles, long linkedBytes, long copiedFiles, long copiedBytes, long walSeq) {}
