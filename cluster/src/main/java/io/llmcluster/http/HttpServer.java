package io.llmcluster.http;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.settings.ServerSettings;
import org.apache.pekko.stream.javadsl.Flow;

/**
 * Binds the {@link HttpApi} routes. Each connection gets a {@link ConnectionScope}, attached to its requests,
 * which cancels what the connection still has in flight when it closes. Pekko HTTP's own limits are set
 * from ours: its request and idle timeouts never cut a generation the worker's timeout has not, and its
 * body limit equals ours so that our route answers 413 in OpenAI's shape.
 */
public final class HttpServer {
    private HttpServer() {}

    public static CompletionStage<ServerBinding> bind(ActorSystem<?> system, HttpApi api, HttpSettings settings) {
        Flow<HttpRequest, HttpResponse, NotUsed> routeFlow = api.route().flow(system);
        Flow<HttpRequest, HttpResponse, NotUsed> perConnection = Flow.<HttpRequest, HttpResponse, NotUsed>fromMaterializer(
                (mat, attributes) -> {
                    ConnectionScope scope = new ConnectionScope();
                    return Flow.of(HttpRequest.class)
                            .map(r -> r.addAttribute(ConnectionScope.KEY, scope))
                            .via(routeFlow)
                            .watchTermination((m, done) -> {
                                done.whenComplete((d, err) -> scope.close());
                                return m;
                            });
                }).mapMaterializedValue(f -> NotUsed.getInstance());
        return Http.get(system).newServerAt(settings.host(), settings.port())
                .withSettings(serverSettings(system, settings))
                .bindFlow(perConnection);
    }

    static ServerSettings serverSettings(ActorSystem<?> system, HttpSettings settings) {
        long timeoutMs = settings.limits().requestTimeoutMs();
        String timeout = timeoutMs > 0 ? (timeoutMs + 60_000) + " ms" : "infinite";
        Config overrides = ConfigFactory.parseString(
                "pekko.http.server.request-timeout = " + timeout + "\n"
                        + "pekko.http.server.idle-timeout = " + timeout + "\n"
                        + "pekko.http.server.parsing.max-content-length = " + settings.maxRequestBytes() + "\n");
        return ServerSettings.create(overrides.withFallback(system.settings().config()));
    }
}
