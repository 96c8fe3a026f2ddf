package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.migration.CapabilityRules;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Every capability rule, broken through migrate-set-capabilities: QEMU's text, and nothing changes. */
class QmpCapabilityRulesTest {
    static final List<CapabilityRules.Rule> RULES = CapabilityRules.RULES;

    @AutoClose
    private final ServedMachine served = ServedMachine.start(1 << 20, null);

    QmpCapabilityRulesTest() throws Exception {
    }

    private static String set(String... nameState) {
        List<Json> list = new ArrayList<>();
        for (int i = 0; i < nameState.length; i += 2) {
            list.add(Json.object().put("capability", nameState[i]).put("state", Boolean.parseBoolean(nameState[i + 1])).build());
        }
        return JsonWriter.compact(Json.object().put("execute", "migrate-set-capabilities")
                .put("arguments", Json.object().put("capabilities", new Json.Arr(list)).build()).build());
    }

    /** The pair plus whatever the subject requires, so that only the rule under test is broken. */
    private static String[] withPrerequisites(CapabilityRules.Rule rule, String... pair) {
        List<String> args = new ArrayList<>(List.of(pair));
        for (CapabilityRules.Rule r : RULES) {
            if (r.subject() == rule.subject() && r.relation() == CapabilityRules.Relation.REQUIRES) {
                args.addAll(List.of(r.other().qmpName(), "true"));
            }
        }
        return args.toArray(String[]::new);
    }

    @ParameterizedTest
    @FieldSource("RULES")
    void aViolatedRuleIsRefusedWithItsMessage(CapabilityRules.Rule rule) throws Exception {
        try (var c = new RawQmp(served.tcp()).negotiated()) {
            String subject = rule.subject().qmpName();
            Json.Obj reply = switch (rule.relation()) {
                case REQUIRES -> c.ask(set(subject, "true", rule.other().qmpName(), "false"));
                case EXCLUDES -> c.ask(set(withPrerequisites(rule, subject, "true", rule.other().qmpName(), "true")));
                case UNAVAILABLE -> c.ask(set(subject, "true"));
            };
            assertEquals("GenericError", RawQmp.errorClass(reply), reply.toString());
            assertEquals(rule.message(), RawQmp.desc(reply));
            Json.Obj caps = c.ask("{\"execute\": \"query-migrate-capabilities\"}");
            assertTrue(caps.get("return").orElseThrow().asArray().stream()
                    .noneMatch(j -> j.asObject().get("state").orElseThrow().equals(Json.of(true))), "nothing was enabled");
        }
    }
}
