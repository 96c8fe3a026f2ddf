package dev.livemig.ram;

/**
 * The flag bits of the "ram" section's address word (§7.2 of the format reference), defined once.
 * Flags live in the low bits below the target page size; the rest of the word is an offset or a size.
 */
public final class RamFlags {
    private RamFlags() {
    }

    public static final int FULL = 0x001; // obsolete, rejected
    public static final int ZERO = 0x002;
    public static final int MEM_SIZE = 0x004;
    public static final int PAGE = 0x008;
    public static final int EOS = 0x010;
    public static final int CONTINUE = 0x020;
    public static final int XBZRLE = 0x040;
    /** The byte after an XBZRLE record's header: the only encoding QEMU knows (ENCODING_FLAG_XBZRLE). */
    public static final int ENCODING_XBZRLE = 0x1;
    public static final int HOOK = 0x080;
    public static final int COMPRESS_PAGE = 0x100;
    public static final int MULTIFD_FLUSH = 0x200;

    /** The "ram" section's version; QEMU accepts no other. */
    public static final int SECTION_VERSION = 4;
    public static final String IDSTR = "ram";

    public static String name(int kind) {
        return switch (kind) {
            case FULL -> "FULL";
            case ZERO -> "ZERO";
            case MEM_SIZE -> "MEM_SIZE";
            case PAGE -> "PAGE";
            case EOS -> "EOS";
            case XBZRLE -> "XBZRLE";
            case HOOK -> "HOOK";
            case COMPRESS_PAGE -> "COMPRESS_PAGE";
            case MULTIFD_FLUSH -> "MULTIFD_FLUSH";
            default -> String.format("0x%03x", kind);
        };
    }
}
