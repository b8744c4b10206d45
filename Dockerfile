# push-broker container image: Debian 12 to build, Debian 12 slim to run, as a
# non-root user. Build and push:
#   docker build -t registry.example.com/push-broker:$(git rev-parse --short HEAD) .
#   docker push registry.example.com/push-broker:$(git rev-parse --short HEAD)

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake g++ ninja-build pkg-config \
      libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc grpc-proto \
      libabsl-dev libcpp-httplib-dev nlohmann-json3-dev libspdlog-dev libhiredis-dev \
      libjemalloc-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPUSH_BROKER_BUILD_TESTS=OFF \
 && cmake --build /build --target push-broker pushctl -j "$(nproc)" \
 && strip /build/push-broker /build/pushctl

FROM debian:12-slim
# The runtime halves of the build's libraries.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libcpp-httplib0.11 \
      libspdlog1.10 libfmt9 libssl3 zlib1g libbrotli1 libhiredis0.14 libjemalloc2 \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 pushbroker \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin pushbroker
COPY --from=build /build/push-broker /build/pushctl /usr/local/bin/
USER 10001:10001
EXPOSE 50051 8080 9090
ENTRYPOINT ["/usr/local/bin/push-broker"]
