package dev.livemig.transport.tls;

import dev.livemig.json.Json;
import org.bouncycastle.asn1.pkcs.DHParameter;
import org.bouncycastle.tls.crypto.DHStandardGroups;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** tls-creds-psk is created with QEMU's checks and texts (QEMU 7.2 and 10.0 give the same for these cases). */
class PskCredentialsTest {
    private static final String KEY = "009d5638c40fde0c"; // QEMU's test key (tests/unit/crypto-tls-psk-helpers.c)

    @TempDir
    Path dir;

    private Json.ObjBuilder props() {
        return Json.object().put("dir", dir.toString());
    }

    private void keys(String content) throws Exception {
        Files.writeString(dir.resolve("keys.psk"), content);
    }

    private String refusal(Json.Obj props) {
        return assertThrows(UserObjectException.class, () -> PskCredentials.create("t", props)).getMessage();
    }

    @Test
    void aClientIsTheDefaultAndSendsUsernameQemu() throws Exception {
        keys("qemu:" + KEY + "\n");
        PskCredentials c = PskCredentials.create("tls0", props().build());
        assertEquals("tls0", c.id());
        assertEquals("tls-creds-psk", c.qomType());
        assertEquals(TlsEndpoint.CLIENT, c.endpoint());
        assertEquals(Optional.of("qemu"), c.username());
    }

    @Test
    void aClientFindsItsUsernamesLineAtCreation() throws Exception {
        keys("qemux:00000000\nalice:" + KEY + "\nqemu:11111111\n");
        PskCredentials alice = PskCredentials.create("t", props().put("username", "alice").build());
        assertEquals(Optional.of("alice"), alice.username());
        assertEquals("Username bob not found in PSK file " + dir.resolve("keys.psk"),
                refusal(props().put("username", "bob").build()));
    }

    @Test
    void anEmptyUsernameIsAUsernameAsInQemu() throws Exception {
        keys("qemu:" + KEY + "\n");
        assertEquals("Username  not found in PSK file " + dir.resolve("keys.psk"),
                refusal(props().put("username", "").build()));
    }

    @Test
    void keysAreHexAsGnutlsReadsThem() throws Exception {
        for (String bad : new String[] {"009d5638c40fde0", "zz9d5638c40fde0c", "009d5638c40fde0c\r", "00 9d 56 38",
                "00:9d:56:38", "009d5638c40fde0c ", "0x112233"}) {
            keys("qemu:" + bad + "\n");
            assertEquals("Cannot set PSK client credentials: Error in parsing.", refusal(props().build()), bad);
        }
        for (String tooShort : new String[] {"", "00", "001122"}) {
            keys("qemu:" + tooShort + "\n");
            assertEquals("Cannot set PSK client credentials: The request is invalid.", refusal(props().build()),
                    tooShort);
        }
        keys("qemu:ABCDEF0123456789"); // either case, and a last line without newline
        PskCredentials.create("t", props().build());
    }

    @Test
    void theFirstLineOfAUsernameCounts() throws Exception {
        keys("qemu:zz\nqemu:" + KEY + "\n");
        assertEquals("Cannot set PSK client credentials: Error in parsing.", refusal(props().build()));
    }

    @Test
    void dirIsRequiredAndKeysPskMustBeThere() throws Exception {
        assertEquals("Missing 'dir' property value", refusal(Json.object().build()));
        assertEquals("Missing 'dir' property value", refusal(Json.object().put("endpoint", "server").build()));
        String missing = "Unable to access credentials " + dir.resolve("keys.psk") + ": No such file or directory";
        assertEquals(missing, refusal(props().build()));
        assertEquals(missing, refusal(props().put("endpoint", "server").build()));
    }

    @Test
    void aServerReadsKeysPskOnlyWhenAClientArrivesSoAnUnreadableOneIsNoErrorYet() throws Exception {
        Files.createDirectory(dir.resolve("keys.psk"));
        Path file = dir.resolve("keys.psk");
        assertEquals("Cannot read PSK file " + file + ": Error reading file “" + file + "”: Is a directory",
                refusal(props().build()));
        PskCredentials server = PskCredentials.create("s", props().put("endpoint", "server").build());
        assertEquals(TlsEndpoint.SERVER, server.endpoint());
    }

    @Test
    void aServerTakesNoUsername() throws Exception {
        keys("qemu:" + KEY + "\n");
        assertEquals("username should not be set when endpoint=server",
                refusal(props().put("endpoint", "server").put("username", "qemu").build()));
        PskCredentials server = PskCredentials.create("s", props().put("endpoint", "server").build());
        assertEquals(Optional.empty(), server.username());
    }

    @Test
    void propertiesAreTypedAsQapiTypesThem() throws Exception {
        keys("qemu:" + KEY + "\n");
        assertEquals("Invalid parameter type for 'dir', expected: string",
                refusal(Json.object().put("dir", 5).build()));
        assertEquals("Invalid parameter type for 'verify-peer', expected: boolean",
                refusal(props().put("verify-peer", "yes").build()));
        assertEquals("Invalid parameter type for 'endpoint', expected: string",
                refusal(props().put("endpoint", 5).build()));
        assertEquals("Invalid parameter type for 'priority', expected: string",
                refusal(props().put("priority", true).build()));
        assertEquals("Invalid parameter type for 'username', expected: string",
                refusal(props().put("username", new Json.Null()).build()));
        assertEquals("Parameter 'endpoint' does not accept value 'x'", refusal(props().put("endpoint", "x").build()));
        assertEquals("Parameter 'sanity-check' is unexpected", refusal(props().put("sanity-check", true).build()));
        // accepted as QEMU accepts them: verify-peer means nothing to PSK, priority is gnutls's
        PskCredentials.create("t", props().put("verify-peer", false).put("priority", "NORMAL").build());
    }

    @Test
    void theKeyAppearsInNoTextAndTheEndpointMustMatchTheSession() throws Exception {
        keys("qemu:" + KEY + "\n");
        PskCredentials c = PskCredentials.create("t", props().put("endpoint", "client").build());
        assertFalse(c.toString().contains(KEY), c.toString());
        assertEquals("tls-creds-psk id=t endpoint=client dir=" + dir + " username=qemu", c.toString());
        var e = assertThrows(TlsException.class, () -> c.server(null, null));
        assertEquals("Credentials endpoint doesn't match session", e.getMessage());
    }

    @Test
    void aServersDhParamsAreLoadedAtCreation() throws Exception {
        keys("qemu:" + KEY + "\n");
        Path dh = dir.resolve("dh-params.pem");
        Files.writeString(dh, "garbage\n");
        assertEquals("Unable to load DH parameters from " + dh + ": Base64 unexpected header error.",
                refusal(props().put("endpoint", "server").build()));
        Files.writeString(dh, "-----BEGIN DH PARAMETERS-----\nAAAA\n-----END DH PARAMETERS-----\n");
        assertEquals("Unable to load DH parameters from " + dh + ": ASN1 parser: Error in DER parsing.",
                refusal(props().put("endpoint", "server").build()));
        var group = DHStandardGroups.rfc7919_ffdhe2048;
        byte[] der = new DHParameter(group.getP(), group.getG(), 0).getEncoded();
        Files.writeString(dh, "-----BEGIN DH PARAMETERS-----\n" + Base64.getMimeEncoder().encodeToString(der)
                + "\n-----END DH PARAMETERS-----\n");
        PskCredentials.create("s", props().put("endpoint", "server").build());
    }
}
