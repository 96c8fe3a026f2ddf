package dev.livemig.transport.tls;

import dev.livemig.json.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;

import static dev.livemig.transport.tls.AuthzSimpleTest.props;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * authz-listfile: an authz-list read from a file, read again when it changes. The cases of QEMU's
 * tests/unit/test-authz-listfile.c, then its creation errors and refresh behaviour.
 */
class AuthzListFileTest {
    private static final String COMPLEX = """
            { "rules": [
                { "match": "fred", "policy": "allow", "format": "exact" },
                { "match": "bob", "policy": "allow", "format": "exact" },
                { "match": "dan", "policy": "deny", "format": "exact" },
                { "match": "dan*", "policy": "allow", "format": "glob" } ],
              "policy": "deny" }""";

    @TempDir
    Path dir;

    @Test
    void aDenyPolicyWithoutRulesDeniesEveryone() throws Exception {
        assertFalse(listFile("{ \"policy\": \"deny\" }", false).isAllowed("fred"));
    }

    @Test
    void anAllowPolicyWithoutRulesAllowsEveryone() throws Exception {
        assertTrue(listFile("{ \"policy\": \"allow\" }", false).isAllowed("fred"));
    }

    @Test
    void anExplicitDenyRuleOverridesTheAllowPolicy() throws Exception {
        var authz = listFile("""
                { "rules": [ { "match": "fred", "policy": "deny", "format": "exact" } ], "policy": "allow" }""", false);
        assertFalse(authz.isAllowed("fred"));
    }

    @Test
    void anExplicitAllowRuleOverridesTheDenyPolicy() throws Exception {
        var authz = listFile("""
                { "rules": [ { "match": "fred", "policy": "allow", "format": "exact" } ], "policy": "deny" }""", false);
        assertTrue(authz.isAllowed("fred"));
    }

    @Test
    void theFirstMatchingRuleOfTheFileDecides() throws Exception {
        var authz = listFile(COMPLEX, false);
        assertTrue(authz.isAllowed("fred"));
        assertTrue(authz.isAllowed("bob"));
        assertFalse(authz.isAllowed("dan"));
        assertTrue(authz.isAllowed("danb"));
    }

    @Test
    void itKeepsItsPropertiesAndRefreshesByDefault() throws Exception {
        Path file = write("acl.json", "{}");
        var authz = AuthzListFile.create("auth0", Json.object().put("filename", file.toString()).build());
        assertEquals("auth0", authz.id());
        assertEquals("authz-listfile", authz.qomType());
        assertEquals(file.toString(), authz.filename());
        assertTrue(authz.refresh());
    }

    @Test
    void refreshPicksUpARewrittenFile() throws Exception {
        Path file = write("acl.json", "{ \"policy\": \"deny\" }");
        var authz = create(file, true);
        assertFalse(authz.isAllowed("fred"));

        rewrite(file, COMPLEX);
        assertTrue(authz.isAllowed("fred"));
        assertFalse(authz.isAllowed("dan"));
    }

    @Test
    void refreshPicksUpAFileRenamedIntoPlace() throws Exception {
        Path file = write("acl.json", "{ \"policy\": \"deny\" }");
        var authz = create(file, true);
        assertFalse(authz.isAllowed("fred"));

        Path next = write("acl.json.new", "{ \"policy\": \"allow\" }");
        Files.move(next, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        assertTrue(authz.isAllowed("fred"));
    }

    @Test
    void withoutRefreshTheFileIsReadOnceAtCreation() throws Exception {
        Path file = write("acl.json", "{ \"policy\": \"deny\" }");
        var authz = create(file, false);
        rewrite(file, "{ \"policy\": \"allow\" }");
        assertFalse(authz.isAllowed("fred"));
    }

    @Test
    void aFileThatTurnsBadRefusesToDecideUntilItIsGoodAgain() throws Exception {
        Path file = write("acl.json", "{ \"policy\": \"allow\" }");
        var authz = create(file, true);
        assertTrue(authz.isAllowed("fred"));

        rewrite(file, "{ \"policy\": \"sometimes\" }");
        var e = assertThrows(TlsException.class, () -> authz.isAllowed("fred"));
        assertEquals("authz-listfile cannot decide: id=auth0 file=" + file
                + ": Parameter 'policy' does not accept value 'sometimes'", e.getMessage());

        rewrite(file, "{ \"policy\": \"allow\" }");
        assertTrue(authz.isAllowed("fred"));
    }

    @Test
    void aFileThatDisappearsLeavesTheLastListInForce() throws Exception {
        Path file = write("acl.json", "{ \"policy\": \"allow\" }");
        var authz = create(file, true);
        Files.delete(file);
        assertTrue(authz.isAllowed("fred"));

        write("acl.json", "{ \"policy\": \"deny\" }");
        assertFalse(authz.isAllowed("fred"));
    }

    @Test
    void itsOwnPropertiesAreCheckedAsQmpChecksThem() {
        assertRefused("Parameter 'filename' is missing", "{'refresh': false}");
        assertRefused("Invalid parameter type for 'filename', expected: string", "{'filename': 7}");
        assertRefused("Invalid parameter type for 'refresh', expected: boolean", "{'filename': '/x', 'refresh': 'yes'}");
        assertRefused("Parameter 'policy' is unexpected", "{'filename': '/nonexistent/acl.json', 'policy': 'allow'}");
    }

    @Test
    void aFileThatCannotBeReadIsRefusedWithGlibsText() throws Exception {
        Path missing = dir.resolve("missing.json");
        assertRefused(missing, "Unable to read '" + missing + "': Failed to open file “" + missing + "”: No such file or directory");
        assertRefused(dir, "Unable to read '" + dir + "': Error reading file “" + dir + "”: Is a directory");
        Path underAFile = write("plain", "").resolve("acl.json");
        assertRefused(underAFile, "Unable to read '" + underAFile + "': Failed to open file “" + underAFile + "”: Not a directory");
        assertRefused("Unable to read '': Failed to open file “”: No such file or directory", "{'filename': '', 'refresh': false}");
    }

    @Test
    void aFileWithoutOneJsonObjectIsRefused() throws Exception {
        Path file = dir.resolve("acl.json");
        rewrite(file, "[]");
        assertRefused(file, "File '" + file + "' must contain a JSON object");
        rewrite(file, " \n\t");
        assertRefused(file, "Expecting a JSON value");
        rewrite(file, "{} {}");
        assertRefused(file, "Expecting at most one JSON value");
        rewrite(file, "{\"policy\": \"deny\"} x");
        assertRefused(file, "Expecting at most one JSON value");
        rewrite(file, "{} {\"policy\": ");
        assertRefused(file, "Expecting at most one JSON value");
        rewrite(file, "{\"policy\": \"allow\"}\0garbage after a NUL");
        assertTrue(create(file, false).isAllowed("fred"), "QEMU reads the file as a C string");
        rewrite(file, "{ \"policy\": }");
        assertRefused(file, "JSON parse error, expecting value");
    }

    @Test
    void aMemberOfTheFileThatIsNoPropertyOfAuthzListIsNotFound() throws Exception {
        Path file = dir.resolve("acl.json");
        rewrite(file, "{ \"policy\": \"deny\", \"filename\": \"/etc/passwd\" }");
        assertRefused(file, "Property 'authz-list.filename' not found");
        rewrite(file, "{ \"type\": \"authz-list\" }");
        assertRefused(file, "Property 'authz-list.type' is not writable");
        rewrite(file, "{ \"rules\": [ { \"match\": \"fred\" } ] }");
        assertRefused(file, "Parameter 'rules[0].policy' is missing");
    }

    @Test
    void withRefreshABareFilenameIsRefusedOnceTheFileIsRead() throws Exception {
        Path here = Files.createTempFile(Path.of(""), "authz-listfile-", ".json"); // a name without a directory
        try {
            Files.writeString(here, "{}");
            String bare = here.getFileName().toString();
            var e = assertThrows(UserObjectException.class, () -> AuthzListFile.create("auth0",
                    Json.object().put("filename", bare).put("refresh", true).build()));
            assertEquals("Filename must be an absolute path", e.getMessage());
            assertFalse(AuthzListFile.create("auth0", Json.object().put("filename", bare).put("refresh", false).build())
                    .isAllowed("fred"));
        } finally {
            Files.delete(here);
        }
    }

    private AuthzListFile listFile(String content, boolean refresh) throws Exception {
        return create(write("acl.json", content), refresh);
    }

    private static AuthzListFile create(Path file, boolean refresh) throws UserObjectException {
        return AuthzListFile.create("auth0", Json.object().put("filename", file.toString()).put("refresh", refresh).build());
    }

    private Path write(String name, String content) throws IOException {
        return Files.writeString(dir.resolve(name), content);
    }

    /** Rewrites in place and moves the modification time on, so a coarse clock cannot hide the change. */
    private static void rewrite(Path file, String content) throws IOException {
        FileTime before = Files.exists(file) ? Files.getLastModifiedTime(file) : FileTime.fromMillis(0);
        Files.writeString(file, content);
        Files.setLastModifiedTime(file, FileTime.fromMillis(before.toMillis() + 2000));
    }

    private static void assertRefused(Path file, String message) {
        var e = assertThrows(UserObjectException.class, () -> create(file, false));
        assertEquals(message, e.getMessage());
    }

    private static void assertRefused(String message, String props) {
        var e = assertThrows(UserObjectException.class, () -> AuthzListFile.create("auth0", props(props)));
        assertEquals(message, e.getMessage());
    }
}
