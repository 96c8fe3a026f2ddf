package dev.livemig.wire.format;

import java.util.Objects;

/**
 * A message the destination sends back to the source on the return path (format reference §11.3). The
 * destination writes them with {@link ReturnPathCodec#write}; the source's return-path thread reads them with
 * {@link ReturnPathCodec#read} and acts on them. Records carry values only: whether a page request lies
 * inside its block, or a SHUT status means failure, is decided by the source's migration logic.
 */
public sealed interface ReturnPathMessage {

    /** Type 1: the destination is done; {@code status} 0 is success, anything else fails the migration. */
    record Shut(int status) implements ReturnPathMessage {
    }

    /** Type 2: the answer to {@code PING(value)}. */
    record Pong(int value) implements ReturnPathMessage {
    }

    /** Type 3: postcopy page request naming its block (sent when the block differs from the previous request's). */
    record ReqPagesId(long start, int length, String block) implements ReturnPathMessage {
        public ReqPagesId {
            Objects.requireNonNull(block, "block");
        }
    }

    /** Type 4: postcopy page request in the block of the previous request. */
    record ReqPages(long start, int length) implements ReturnPathMessage {
    }

    /**
     * Type 5: postcopy recovery: the received bitmap of {@code block} follows on the return path, outside this
     * message (§11.4); the caller reads it after this message.
     */
    record RecvBitmap(String block) implements ReturnPathMessage {
        public RecvBitmap {
            Objects.requireNonNull(block, "block");
        }
    }

    /** Type 6: the destination is ready to resume postcopy; {@code value} is always 1. */
    record ResumeAck(int value) implements ReturnPathMessage {
        /** The only value QEMU sends and accepts. */
        public static final int VALUE = 1;

        /** The message with {@link #VALUE}. */
        public static ResumeAck ready() {
            return new ResumeAck(VALUE);
        }
    }

    /** Type 7 (QEMU 8.1+, switchover-ack on): the destination allows the source to switch over. */
    record SwitchoverAck() implements ReturnPathMessage {
    }
}
