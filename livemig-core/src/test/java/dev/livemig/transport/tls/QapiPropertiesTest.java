package dev.livemig.transport.tls;

import dev.livemig.json.Json;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Optional;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Properties are read as QEMU's QAPI input visitor reads them, with its texts; every user object's creation goes
 * through here (their own tests pin each one's order of checks).
 */
class QapiPropertiesTest {

    private static String refusal(org.junit.jupiter.api.function.Executable read) {
        return assertThrows(UserObjectException.class, read).getMessage();
    }

    @Test
    void eachMemberIsTypedWhenItIsReadAndUnexpectedOnesLast() throws Exception {
        var in = QapiProperties.of(Json.object().put("extra", 1).put("name", "x").put("on", true).build());
        assertEquals(Optional.of("x"), in.optionalString("name"));
        assertEquals(Optional.of(true), in.optionalBool("on"));
        assertEquals(Optional.empty(), in.optionalString("absent"));
        assertEquals("Invalid parameter type for 'name', expected: boolean", refusal(() -> in.optionalBool("name")));
        assertEquals("Parameter 'absent' is missing", refusal(() -> in.requiredString("absent")));
        assertEquals("Parameter 'extra' is unexpected", refusal(() -> in.noOtherMembers(Set.of("name", "on"))));
    }

    @Test
    void anElementsMembersAreNamedByTheirPathButAnEnumsBadValueByTheMemberAlone() throws Exception {
        var top = QapiProperties.of(Json.object().build());
        var rule = QapiProperties.element(Json.object().put("policy", "maybe").put("x", 1).build(),
                top.fullName("rules") + "[2]");
        assertEquals("Invalid parameter type for 'rules[2].policy', expected: array",
                refusal(() -> rule.optionalArray("policy")));
        assertEquals("Parameter 'rules[2].match' is missing", refusal(() -> rule.requiredString("match")));
        assertEquals("Parameter 'policy' does not accept value 'maybe'",
                refusal(() -> rule.requiredEnum("policy", AuthzList.Policy::byName)));
        assertEquals("Parameter 'rules[2].x' is unexpected", refusal(() -> rule.noOtherMembers(List.of("policy"))));
        assertEquals("Invalid parameter type for 'rules[3]', expected: object",
                refusal(() -> QapiProperties.element(new Json.Str("y"), "rules[3]")));
    }

    @Test
    void namesAndValuesTheUserGaveAreEscapedInTheTexts() {
        var in = QapiProperties.of(Json.object().put("endpoint", "x\u001b[2J").put("evil\nname", 1).build());
        assertEquals("Parameter 'endpoint' does not accept value 'x\\x1b[2J'",
                refusal(() -> in.optionalEnum("endpoint", TlsEndpoint::byQemuName)));
        assertEquals("Parameter 'evil\\x0aname' is unexpected", refusal(() -> in.noOtherMembers(Set.of("endpoint"))));
    }
}
