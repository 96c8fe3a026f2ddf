package dev.livemig.cli;

import dev.livemig.transport.MigrationUri;
import dev.livemig.wire.MigrationException;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.*;

/** Listeners on every interface are warned about, with what exposing them means; specific addresses are not. */
class WildcardWarningTest {
    @ParameterizedTest
    @ValueSource(strings = {"tcp:0.0.0.0:4444", "tcp::4444", "tcp:[::]:4444", "tcp:[0:0:0:0:0:0:0:0]:0"})
    void everyInterfaceIsWarnedAbout(String address) throws MigrationException {
        MigrationUri uri = MigrationUri.parse(address);
        String qmp = WildcardWarning.forQmp(uri).orElseThrow();
        assertTrue(qmp.startsWith("warning: QMP on tcp:") && qmp.contains("exec:"), qmp);
        String incoming = WildcardWarning.forIncoming(uri).orElseThrow();
        assertTrue(incoming.startsWith("warning: the incoming migration on tcp:"), incoming);
    }

    @ParameterizedTest
    @ValueSource(strings = {"tcp:127.0.0.1:4444", "tcp:[::1]:4444", "tcp:192.0.2.7:4444", "tcp:localhost:4444",
            "unix:/tmp/qmp.sock", "exec:cat x", "file:/tmp/x"})
    void aChosenAddressIsNot(String address) throws MigrationException {
        MigrationUri uri = MigrationUri.parse(address);
        assertEquals(java.util.Optional.empty(), WildcardWarning.forQmp(uri));
        assertEquals(java.util.Optional.empty(), WildcardWarning.forIncoming(uri));
    }
}
