package dev.livemig.json;

/** Malformed JSON, with the character offset of the fault. */
public final class JsonParseException extends Exception {
    private final int offset;

    public JsonParseException(String message, int offset) {
        super(message);
        this.offset = offset;
    }

    public int offset() {
        return offset;
    }
}
