package dev.livemig.multifd;

/** A multifd packet's compressed payload that does not decode to exactly its pages; the reader adds where. */
public final class MalformedPayload extends Exception {
    MalformedPayload(String message) {
        super(message);
    }
}
