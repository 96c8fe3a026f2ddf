package dev.livemig.transport.tls;

import dev.livemig.json.Json;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The user-creatable objects of one process (QEMU's /objects container), by id: what {@code object-add} and
 * {@code -object} create, what the tls-creds and tls-authz migration parameters name. Any thread.
 */
public final class UserObjects {
    /** The types livemig builds, in QEMU's names. */
    public static final List<String> TYPES = List.of("tls-creds-x509", "tls-creds-psk", "authz-simple", "authz-list",
            "authz-listfile");

    private final Map<String, UserObject> byId = new ConcurrentHashMap<>();

    /**
     * Creates an object of {@code qomType} under {@code id} from its properties (QMP object-add's arguments other than
     * qom-type and id), in QEMU's order of checks and with its texts.
     */
    public UserObject add(String qomType, String id, Json.Obj props) throws UserObjectException {
        if (!isIdentifier(id)) {
            throw new UserObjectException("Parameter 'id' expects an identifier");
        }
        if (!TYPES.contains(qomType)) {
            throw new UserObjectException("object type '" + qomType + "' is not built in livemig (only "
                    + String.join(", ", TYPES) + ")");
        }
        if (byId.containsKey(id)) {
            throw duplicate(id);
        }
        UserObject o = switch (qomType) {
            case "tls-creds-x509" -> X509Credentials.create(id, props);
            case "tls-creds-psk" -> PskCredentials.create(id, props);
            case "authz-simple" -> AuthzSimple.create(id, props);
            case "authz-list" -> AuthzList.create(id, props);
            case "authz-listfile" -> AuthzListFile.create(id, props);
            default -> throw new IllegalStateException("a type listed in TYPES without a constructor: " + qomType);
        };
        if (byId.putIfAbsent(id, o) != null) {
            throw duplicate(id);
        }
        return o;
    }

    private static UserObjectException duplicate(String id) {
        return new UserObjectException("attempt to add duplicate property '" + id + "' to object (type 'container')");
    }

    /** QMP object-del. Credentials in use by a running migration stay usable by it: its sessions hold them. */
    public void delete(String id) throws UserObjectException {
        if (byId.remove(id) == null) {
            throw new UserObjectException("object '" + id + "' not found");
        }
    }

    /** The object under {@code id}, if any. */
    public java.util.Optional<UserObject> get(String id) {
        return java.util.Optional.ofNullable(byId.get(id));
    }

    /** The tls-creds of a migration: credentials for {@code endpoint} under {@code id}, with migration's texts. */
    public TlsCredentials credentials(String id, TlsEndpoint endpoint) throws TlsException {
        UserObject o = byId.get(id);
        if (o == null) {
            throw new TlsException("No TLS credentials with id '" + id + "'");
        }
        if (!(o instanceof TlsCredentials c)) {
            throw new TlsException("Object with id '" + id + "' is not TLS credentials");
        }
        if (c.endpoint() != endpoint) {
            throw new TlsException("Expected TLS credentials for a " + endpoint.qemuName() + " endpoint");
        }
        return c;
    }

    /** The tls-authz of a migration, with the texts QEMU's check gives when it runs. */
    public TlsAuthz authz(String id) throws TlsException {
        UserObject o = byId.get(id);
        if (o == null) {
            throw new TlsException("Cannot find QAuthZ object ID " + id);
        }
        if (!(o instanceof TlsAuthz a)) {
            throw new TlsException("Object '" + id + "' is not a QAuthZ subclass");
        }
        return a;
    }

    /** QEMU's id rule: a letter, then letters, digits, '-', '.', '_'. */
    static boolean isIdentifier(String id) {
        if (id.isEmpty() || !isAsciiLetter(id.charAt(0))) {
            return false;
        }
        for (int i = 1; i < id.length(); i++) {
            char c = id.charAt(i);
            if (!isAsciiLetter(c) && !(c >= '0' && c <= '9') && "-._".indexOf(c) < 0) {
                return false;
            }
        }
        return true;
    }

    private static boolean isAsciiLetter(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    }
}
