package dev.livemig.transport.tls;

import dev.livemig.json.Json;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ObjectOptionTest {

    @Test
    void aFirstItemWithoutEqualsIsTheTypeAndTheRestAreProperties() throws Exception {
        var o = ObjectOption.parse("tls-creds-x509,id=tls0,dir=/etc/pki/qemu,endpoint=server");
        assertEquals("tls-creds-x509", o.qomType());
        assertEquals("tls0", o.id());
        assertEquals(Json.object().put("dir", "/etc/pki/qemu").put("endpoint", "server").build(), o.properties());
    }

    @Test
    void booleanPropertiesTakeQemusOnOffWords() throws Exception {
        var on = ObjectOption.parse("tls-creds-x509,id=a,dir=/d,verify-peer=on");
        var off = ObjectOption.parse("tls-creds-x509,id=a,dir=/d,verify-peer=no");
        assertEquals(new Json.Bool(true), on.properties().get("verify-peer").orElseThrow());
        assertEquals(new Json.Bool(false), off.properties().get("verify-peer").orElseThrow());
        var bad = assertThrows(UserObjectException.class, () -> ObjectOption.parse("tls-creds-x509,id=a,verify-peer=maybe"));
        assertEquals("Parameter 'verify-peer' expects 'on' or 'off'", bad.getMessage());
    }

    @Test
    void aDoubledCommaIsACommaInsideAValue() throws Exception {
        var o = ObjectOption.parse("authz-simple,id=auth0,identity=CN=client,,O=livemig,,C=GB");
        assertEquals("CN=client,O=livemig,C=GB", o.properties().string("identity"));
    }

    @Test
    void theTypeMayAlsoBeGivenByName() throws Exception {
        assertEquals("authz-simple", ObjectOption.parse("qom-type=authz-simple,id=a,identity=x").qomType());
    }

    @Test
    void aJsonObjectCarriesStructuredPropertiesSuchAsAuthzListRules() throws Exception {
        var o = ObjectOption.parse("{\"qom-type\":\"authz-list\",\"id\":\"auth0\",\"policy\":\"deny\","
                + "\"rules\":[{\"match\":\"CN=*\",\"policy\":\"allow\",\"format\":\"glob\"}]}");
        assertEquals("authz-list", o.qomType());
        assertEquals("auth0", o.id());
        assertEquals(1, o.properties().array("rules").size());
    }

    @Test
    void aMissingTypeOrIdOrEqualsIsNamed() {
        assertEquals("Parameter 'id' is missing",
                assertThrows(UserObjectException.class, () -> ObjectOption.parse("authz-simple,identity=x")).getMessage());
        assertEquals("Parameter 'qom-type' is missing",
                assertThrows(UserObjectException.class, () -> ObjectOption.parse("id=a,identity=x")).getMessage());
        assertEquals("Expected '=' after parameter 'identity'",
                assertThrows(UserObjectException.class, () -> ObjectOption.parse("authz-simple,id=a,identity")).getMessage());
        assertThrows(UserObjectException.class, () -> ObjectOption.parse("{\"qom-type\": "));
    }
}
