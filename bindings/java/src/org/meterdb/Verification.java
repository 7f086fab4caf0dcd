package org.meterdb;

/** The result of {@link MeterDb#verify()}: the number of problems and their messages. */
public record Verification(long problems, String message) {
    /** Whether every checksum of every live file held. */
    public boolean ok() {
        return problems == 0;
    }
}
