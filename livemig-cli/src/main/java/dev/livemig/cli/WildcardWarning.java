package dev.livemig.cli;

import dev.livemig.transport.MigrationUri;

import java.net.InetAddress;
import java.util.Optional;

/**
 * The warning printed when a listener is bound to every interface (tcp:0.0.0.0, tcp:[::], an empty host):
 * anyone who can reach the port can then drive QMP (which runs shell commands through exec: URIs, as QEMU's
 * does) or hand the destination a guest state to load. Binding loopback or a unix socket avoids both.
 */
final class WildcardWarning {
    private WildcardWarning() {
    }

    static Optional<String> forQmp(MigrationUri address) {
        return isWildcard(address) ? Optional.of("warning: QMP on " + address + " listens on every interface: whoever"
                + " reaches it controls this process, including running shell commands through exec: migration URIs;"
                + " bind 127.0.0.1 or use unix:PATH unless the network is trusted") : Optional.empty();
    }

    static Optional<String> forIncoming(MigrationUri address) {
        return isWildcard(address) ? Optional.of("warning: the incoming migration on " + address + " listens on every"
                + " interface: whoever connects first with a valid stream becomes this guest; bind the address the"
                + " source will use") : Optional.empty();
    }

    static boolean isWildcard(MigrationUri address) {
        if (!(address instanceof MigrationUri.Tcp(String host, int port))) {
            return false;
        }
        try {
            return host.isEmpty() || InetAddress.ofLiteral(host).isAnyLocalAddress();
        } catch (IllegalArgumentException notALiteral) {
            return false; // a host name: whatever it resolves to, it was chosen on purpose
        }
    }
}
