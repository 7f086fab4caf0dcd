package org.meterdb;

/**
 * How a counter's register is read ({@code meterdb_register}) where it falls by a step that is
 * neither a rollover, nor a recorded meter replacement ({@link MeterDb#replaceMeter}), nor a
 * fall to near zero (10% of the previous reading or less, taken as a replacement). Either way
 * the bucket counts the step in {@link BucketRow#backward()}.
 */
public enum Register {
    /** The default: the register only counts up, a backward step adds nothing to consumption. */
    IMPORT(0),
    /** A net (bidirectional) register: consumption is the signed change. */
    NET(1);

    final int code;

    Register(int code) {
        this.code = code;
    }

    static Register of(int code) {
        return code == 1 ? NET : IMPORT;
    }
}
