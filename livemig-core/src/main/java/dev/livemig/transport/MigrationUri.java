package dev.livemig.transport;

import dev.livemig.wire.MigrationException;

import java.nio.file.Path;

/**
 * A migration address in QEMU's URI syntax (§15.4): {@code tcp:HOST:PORT} (IPv6 hosts in brackets),
 * {@code unix:PATH}, {@code exec:COMMAND} (run through /bin/sh), {@code file:PATH[,offset=N]}, {@code fd:NAME}.
 */
public sealed interface MigrationUri {

    /** {@code tcp:HOST:PORT}: an empty host is 0.0.0.0; port 0 lets a listener pick a free port. */
    record Tcp(String host, int port) implements MigrationUri {
        @Override
        public String toString() {
            return "tcp:" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
        }
    }

    /** {@code unix:PATH}: a unix domain socket. */
    record Unix(Path path) implements MigrationUri {
        @Override
        public String toString() {
            return "unix:" + path;
        }
    }

    /**
     * {@code exec:COMMAND}: a shell command whose stdin takes the stream (source) or whose stdout gives it
     * (destination).
     */
    record Exec(String command) implements MigrationUri {
        @Override
        public String toString() {
            return "exec:" + command;
        }
    }

    /** {@code file:PATH[,offset=N]}: the stream stored in a file, from byte {@code offset} (decimal or 0x hex). */
    record File(Path path, long offset) implements MigrationUri {
        @Override
        public String toString() {
            return "file:" + path + (offset != 0 ? ",offset=" + offset : "");
        }
    }

    /**
     * {@code fd:NAME}: a connected socket a QMP client passed with {@code getfd} under NAME (QEMU's fd transport); the
     * migration controller takes it out of its list when the migration starts.
     */
    record Fd(String name) implements MigrationUri {
        @Override
        public String toString() {
            return "fd:" + name;
        }
    }

    /**
     * Parses a URI in QEMU's syntax.
     *
     * @throws MigrationException if it is malformed (no scheme, no path, a bad port or offset, an IPv6 host
     *         without brackets), or names a transport livemig does not have (rdma, fd, vsock, any other)
     */
    static MigrationUri parse(String uri) throws MigrationException {
        int colon = uri.indexOf(':');
        if (colon < 0) {
            throw new MigrationException("invalid migration URI (expected tcp:, unix:, exec: or file:): " + uri);
        }
        String scheme = uri.substring(0, colon);
        String rest = uri.substring(colon + 1);
        return switch (scheme) {
            case "tcp" -> parseTcp(uri, rest);
            case "unix" -> {
                if (rest.isEmpty()) {
                    throw new MigrationException("unix: URI without a path: " + uri);
                }
                yield new Unix(Path.of(rest));
            }
            case "exec" -> {
                if (rest.isBlank()) {
                    throw new MigrationException("exec: URI without a command: " + uri);
                }
                yield new Exec(rest);
            }
            case "file" -> parseFile(uri, rest);
            case "fd" -> {
                if (rest.isEmpty()) {
                    throw new MigrationException("fd: URI without a descriptor name: " + uri);
                }
                yield new Fd(rest);
            }
            case "rdma", "vsock" -> throw new MigrationException("transport " + scheme + ": is not supported by livemig: " + uri);
            default -> throw new MigrationException("unknown migration transport " + scheme + ": in " + uri);
        };
    }

    private static MigrationUri parseTcp(String uri, String rest) throws MigrationException {
        String host;
        String port;
        if (rest.startsWith("[")) {
            int close = rest.indexOf(']');
            if (close < 0 || close + 1 >= rest.length() || rest.charAt(close + 1) != ':') {
                throw new MigrationException("invalid tcp: URI (expected tcp:[IPV6]:PORT): " + uri);
            }
            host = rest.substring(1, close);
            port = rest.substring(close + 2);
        } else {
            int last = rest.lastIndexOf(':');
            if (last < 0) {
                throw new MigrationException("invalid tcp: URI (expected tcp:HOST:PORT): " + uri);
            }
            host = rest.substring(0, last);
            port = rest.substring(last + 1);
            if (host.contains(":")) {
                throw new MigrationException("IPv6 host must be in brackets: " + uri);
            }
        }
        int p;
        try {
            p = Integer.parseInt(port);
        } catch (NumberFormatException e) {
            throw new MigrationException("invalid port in " + uri + ": " + port);
        }
        if (p < 0 || p > 65535) {
            throw new MigrationException("port out of range in " + uri + ": " + p);
        }
        return new Tcp(host.isEmpty() ? "0.0.0.0" : host, p);
    }

    private static MigrationUri parseFile(String uri, String rest) throws MigrationException {
        long offset = 0;
        String path = rest;
        int comma = rest.lastIndexOf(",offset=");
        if (comma >= 0) {
            path = rest.substring(0, comma);
            String n = rest.substring(comma + ",offset=".length());
            try {
                offset = n.startsWith("0x") ? Long.parseLong(n.substring(2), 16) : Long.parseLong(n);
            } catch (NumberFormatException e) {
                throw new MigrationException("invalid offset in " + uri + ": " + n);
            }
            if (offset < 0) {
                throw new MigrationException("negative offset in " + uri);
            }
        }
        if (path.isEmpty()) {
            throw new MigrationException("file: URI without a path: " + uri);
        }
        return new File(Path.of(path), offset);
    }
}
