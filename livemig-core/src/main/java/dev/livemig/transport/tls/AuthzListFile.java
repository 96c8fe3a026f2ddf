package dev.livemig.transport.tls;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParseException;
import dev.livemig.json.JsonParser;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.Arrays;
import java.util.Objects;
import java.util.Set;

/**
 * QEMU's authz-listfile: an authz-list read from a JSON file ({@code {"policy": "deny", "rules": [...]}}).
 *
 * <p>With {@code refresh} (QEMU's default on Linux) QEMU reloads the file when inotify reports it written or
 * created. Here the file is looked at on each {@link #isAllowed} instead: when its modification time, size or
 * inode differ from those of the last load, it is read again. As in QEMU, a file that disappears leaves the last
 * list in force, and a file that no longer loads denies everyone until it loads again; where QEMU then returns a
 * plain "no", this throws a TlsException saying why. Safe to share between sessions: checks are serialised.
 *
 * <p>QEMU itself (7.2 measured, 10.0 by its source) cannot make one through object-add or -object: its QOM type is
 * registered as "authz-list-file", so once the properties pass QAPI's checks it fails with "invalid object type:
 * authz-listfile". The texts after that point are therefore read from QEMU's and GLib's source, not measured.
 */
public final class AuthzListFile implements TlsAuthz {
    private final String id;
    private final String filename;
    private final boolean refresh;
    private Loaded loaded; // guarded by this

    /** What identifies one version of the file; taken before it is read, so a write during the read is seen next time. */
    private record Stamp(FileTime modified, long size, Object fileKey) {
    }

    /** The outcome of one load: a list, or QEMU's text for why there is none. */
    private record Loaded(Stamp stamp, AuthzList list, String error) {
    }

    private AuthzListFile(String id, String filename, boolean refresh, Loaded loaded) {
        this.id = Objects.requireNonNull(id, "id");
        this.filename = filename;
        this.refresh = refresh;
        this.loaded = loaded;
    }

    /**
     * An authz-listfile from the properties of object-add (without qom-type and id): {@code filename} (required) and
     * {@code refresh} (default true). The file is read now; with refresh, QEMU also wants a name with a directory
     * part ("Filename must be an absolute path" is its text for a bare name, though a relative path with a '/'
     * passes).
     */
    public static AuthzListFile create(String id, Json.Obj props) throws UserObjectException {
        var in = QapiProperties.of(props);
        String filename = in.requiredString("filename");
        boolean refresh = in.optionalBool("refresh").orElse(true);
        in.noOtherMembers(Set.of("filename", "refresh"));

        Stamp stamp = stamp(filename);
        AuthzList list = load(id, filename);
        if (refresh) {
            if (dirname(filename).equals(".")) {
                throw new UserObjectException("Filename must be an absolute path");
            }
            if (basename(filename).equals(".")) {
                throw new UserObjectException("Path has no trailing filename component");
            }
        }
        return new AuthzListFile(id, filename, refresh, new Loaded(stamp, list, null));
    }

    @Override
    public String id() {
        return id;
    }

    @Override
    public String qomType() {
        return "authz-listfile";
    }

    /** The file's name as given. */
    public String filename() {
        return filename;
    }

    /** Whether a changed file is read again. */
    public boolean refresh() {
        return refresh;
    }

    @Override
    public synchronized boolean isAllowed(String identity) throws TlsException {
        if (refresh) {
            reloadIfChanged();
        }
        if (loaded.list() == null) {
            throw new TlsException("authz-listfile cannot decide: id=" + id + " file=" + filename + ": " + loaded.error());
        }
        return loaded.list().isAllowed(identity);
    }

    private void reloadIfChanged() {
        Stamp now = stamp(filename);
        if (now == null || now.equals(loaded.stamp())) {
            return; // unchanged, or gone: QEMU acts on writes and creations only
        }
        try {
            loaded = new Loaded(now, load(id, filename), null);
        } catch (UserObjectException e) {
            loaded = new Loaded(now, null, e.getMessage());
        }
    }

    private static Stamp stamp(String filename) {
        try {
            var a = Files.readAttributes(Path.of(filename), BasicFileAttributes.class);
            return new Stamp(a.lastModifiedTime(), a.size(), a.fileKey());
        } catch (IOException | InvalidPathException e) {
            return null;
        }
    }

    /** QEMU's qauthz_list_file_load, with its texts. */
    private static AuthzList load(String id, String filename) throws UserObjectException {
        byte[] content;
        try {
            content = GlibFile.contents(filename);
        } catch (UserObjectException e) {
            throw new UserObjectException("Unable to read '" + filename + "': " + e.getMessage(), e);
        }
        Json json = qobjectFromJson(content);
        if (!(json instanceof Json.Obj props)) {
            throw new UserObjectException("File '" + filename + "' must contain a JSON object");
        }
        return AuthzList.fromFile(id, props);
    }

    /**
     * QEMU's qobject_from_json: the text up to its first NUL (a C string) holds exactly one JSON value. QEMU's
     * streamer cuts the text into messages where the first value closes; anything after that is a second message,
     * and a second message is an error of its own, whatever it holds.
     */
    private static Json qobjectFromJson(byte[] content) throws UserObjectException {
        int nul = 0;
        while (nul < content.length && content[nul] != 0) {
            nul++;
        }
        byte[] text = Arrays.copyOf(content, nul);
        if (onlyWhitespace(text)) {
            throw new UserObjectException("Expecting a JSON value");
        }
        int end = firstValueEnd(text);
        boolean more = end >= 0 && !onlyWhitespace(Arrays.copyOfRange(text, end, text.length));
        try {
            Json json = JsonParser.parse(more ? Arrays.copyOf(text, end) : text, JsonParser.Syntax.QMP);
            if (more) {
                throw new UserObjectException("Expecting at most one JSON value");
            }
            return json;
        } catch (JsonParseException e) {
            throw new UserObjectException(e.desc());
        }
    }

    /** Where the first top-level value of {@code text} closes (just after it), or -1 if it does not. */
    private static int firstValueEnd(byte[] text) {
        int depth = 0;
        for (int i = 0; i < text.length; i++) {
            byte b = text[i];
            if (b == ' ' || b == '\t' || b == '\n' || b == '\r') {
                continue;
            }
            if (b == '"' || b == '\'') {
                i = closingQuote(text, i);
                if (i < 0) {
                    return -1;
                }
            } else if (b == '{' || b == '[') {
                depth++;
            } else if (b == '}' || b == ']') {
                depth--;
            } else {
                while (i + 1 < text.length && scalarByte(text[i + 1])) {
                    i++; // the rest of a number or keyword
                }
            }
            if (depth <= 0) {
                return i + 1;
            }
        }
        return -1;
    }

    private static boolean scalarByte(byte b) {
        return Character.isLetterOrDigit(b) || b == '+' || b == '-' || b == '.';
    }

    private static int closingQuote(byte[] text, int open) {
        for (int i = open + 1; i < text.length; i++) {
            if (text[i] == '\\') {
                i++;
            } else if (text[i] == text[open]) {
                return i;
            }
        }
        return -1;
    }

    /** Whether QEMU's JSON lexer finds no token in {@code text}. */
    private static boolean onlyWhitespace(byte[] text) {
        for (byte b : text) {
            if (b != ' ' && b != '\t' && b != '\n' && b != '\r') {
                return false;
            }
        }
        return true;
    }

    /** GLib's g_path_get_dirname: "." for a name without '/'. */
    private static String dirname(String path) {
        int slash = path.lastIndexOf('/');
        if (slash < 0) {
            return ".";
        }
        while (slash > 0 && path.charAt(slash) == '/') {
            slash--;
        }
        return path.substring(0, slash + 1);
    }

    /** GLib's g_path_get_basename: "." for an empty name, "/" for slashes only, else the last component. */
    private static String basename(String path) {
        if (path.isEmpty()) {
            return ".";
        }
        int last = path.length() - 1;
        while (last >= 0 && path.charAt(last) == '/') {
            last--;
        }
        if (last < 0) {
            return "/";
        }
        int start = last;
        while (start >= 0 && path.charAt(start) != '/') {
            start--;
        }
        return path.substring(start + 1, last + 1);
    }
}
