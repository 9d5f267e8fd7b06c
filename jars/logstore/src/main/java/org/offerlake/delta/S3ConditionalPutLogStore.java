package org.offerlake.delta;

import com.amazonaws.ClientConfiguration;
import com.amazonaws.auth.AWSCredentialsProvider;
import com.amazonaws.auth.AWSStaticCredentialsProvider;
import com.amazonaws.auth.BasicAWSCredentials;
import com.amazonaws.auth.BasicSessionCredentials;
import com.amazonaws.auth.DefaultAWSCredentialsProviderChain;
import com.amazonaws.client.builder.AwsClientBuilder.EndpointConfiguration;
import com.amazonaws.services.s3.AmazonS3;
import com.amazonaws.services.s3.AmazonS3ClientBuilder;
import com.amazonaws.services.s3.model.AmazonS3Exception;
import com.amazonaws.services.s3.model.ObjectMetadata;
import com.amazonaws.services.s3.model.PutObjectRequest;
import io.delta.storage.HadoopFileSystemLogStore;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.util.Iterator;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;

/**
 * A Delta {@code LogStore} for {@code s3a://} tables written by many Spark drivers at once.
 *
 * <p>Delta needs put-if-absent for a commit: of two drivers writing version N of a table, one
 * must win and the other must see {@link FileAlreadyExistsException} (it then retries on the new
 * snapshot). Delta's default S3 store checks for N.json and then writes it, so two drivers can
 * both pass the check and one commit overwrites the other: it is safe only with a single writing
 * driver. This store writes N.json with one S3 conditional PUT ({@code If-None-Match: *}): S3
 * itself refuses the second writer with 412 Precondition Failed. A PUT is atomic, so no reader
 * ever sees part of a commit, and there is no temporary file or second service (DynamoDB) to
 * keep in step.
 *
 * <p>An S3-compatible store that ignores the header would silently lose commits again, so before
 * its first commit to a bucket the store proves the bucket enforces it (a probe object written
 * twice, then deleted) and fails otherwise.
 *
 * <p>Reading and listing the log go through Hadoop's S3A file system (S3 lists consistently).
 * The client takes the S3A settings: {@code fs.s3a.endpoint}, {@code fs.s3a.endpoint.region},
 * {@code fs.s3a.path.style.access}, {@code fs.s3a.access.key} / {@code secret.key} /
 * {@code session.token}, each also per bucket ({@code fs.s3a.bucket.NAME.endpoint}), else the
 * AWS default credentials chain. Enable it with {@code
 * spark.delta.logStore.s3a.impl=org.offerlake.delta.S3ConditionalPutLogStore}.
 */
public class S3ConditionalPutLogStore extends HadoopFileSystemLogStore {

  static final String PROBE_PREFIX = "_offerlake/conditional-put-probe-";
  private static final int CONFLICT_RETRIES = 5;

  private final Map<String, AmazonS3> clients = new ConcurrentHashMap<>();
  private final Map<String, Boolean> proven = new ConcurrentHashMap<>();

  public S3ConditionalPutLogStore(Configuration initHadoopConf) {
    super(initHadoopConf);
  }

  @Override
  public void write(Path path, Iterator<String> actions, Boolean overwrite, Configuration conf)
      throws IOException {
    URI uri = path.toUri();
    String bucket = uri.getHost();
    String key = uri.getPath().startsWith("/") ? uri.getPath().substring(1) : uri.getPath();
    if (bucket == null || key.isEmpty()) {
      throw new IOException("not an S3 object path: " + path);
    }
    AmazonS3 s3 = client(bucket, conf);
    if (!overwrite) {
      proveConditionalPut(s3, bucket);
    }
    byte[] body = lines(actions);
    for (int attempt = 1; ; attempt++) {
      try {
        s3.putObject(request(bucket, key, body, overwrite));
        return;
      } catch (AmazonS3Exception e) {
        if (!overwrite && e.getStatusCode() == 412) {
          throw new FileAlreadyExistsException(path.toString());
        }
        // 409 ConditionalRequestConflict: another conditional write of the key is in flight;
        // S3 asks to try again (the winner's object then answers 412)
        if (e.getStatusCode() != 409 || attempt >= CONFLICT_RETRIES) {
          throw new IOException("S3 PUT of " + path + " failed: " + e.getErrorCode(), e);
        }
        sleep(100L * attempt);
      }
    }
  }

  @Override
  public Boolean isPartialWriteVisible(Path path, Configuration conf) {
    return false; // one PUT: an object is there whole or not at all
  }

  private static PutObjectRequest request(
      String bucket, String key, byte[] body, boolean overwrite) {
    ObjectMetadata metadata = new ObjectMetadata();
    metadata.setContentLength(body.length);
    metadata.setContentType("application/json");
    PutObjectRequest request =
        new PutObjectRequest(bucket, key, new ByteArrayInputStream(body), metadata);
    if (!overwrite) {
      request.putCustomRequestHeader("If-None-Match", "*");
    }
    return request;
  }

  /** Delta's commit file: each action on its own line. */
  private static byte[] lines(Iterator<String> actions) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    while (actions.hasNext()) {
      byte[] line = (actions.next() + "\n").getBytes(StandardCharsets.UTF_8);
      out.write(line, 0, line.length);
    }
    return out.toByteArray();
  }

  /** Fails unless the bucket refuses a second conditional PUT of one key (once per bucket). */
  private void proveConditionalPut(AmazonS3 s3, String bucket) throws IOException {
    if (proven.containsKey(bucket)) {
      return;
    }
    String probe = PROBE_PREFIX + UUID.randomUUID();
    byte[] body = "probe\n".getBytes(StandardCharsets.UTF_8);
    try {
      s3.putObject(request(bucket, probe, body, false));
      try {
        s3.putObject(request(bucket, probe, body, false));
      } catch (AmazonS3Exception e) {
        if (e.getStatusCode() == 412) {
          proven.put(bucket, Boolean.TRUE);
          return;
        }
        throw new IOException("conditional-write probe of s3://" + bucket + " failed", e);
      }
      throw new IOException(
          "s3://"
              + bucket
              + " ignores conditional writes (If-None-Match: *): Delta commits of several"
              + " drivers would overwrite each other there; refusing to commit");
    } finally {
      try {
        s3.deleteObject(bucket, probe);
      } catch (RuntimeException e) {
        // a probe left behind is a small object under _offerlake/, not a fault of the commit
      }
    }
  }

  private AmazonS3 client(String bucket, Configuration conf) {
    return clients.computeIfAbsent(bucket, b -> newClient(b, conf));
  }

  private static String setting(Configuration conf, String bucket, String name) {
    String value = conf.getTrimmed("fs.s3a.bucket." + bucket + "." + name);
    return value != null && !value.isEmpty() ? value : conf.getTrimmed("fs.s3a." + name);
  }

  private static AmazonS3 newClient(String bucket, Configuration conf) {
    AmazonS3ClientBuilder builder =
        AmazonS3ClientBuilder.standard()
            .withCredentials(credentials(conf, bucket))
            .withClientConfiguration(new ClientConfiguration().withMaxErrorRetry(3))
            .withPathStyleAccessEnabled(
                Boolean.parseBoolean(setting(conf, bucket, "path.style.access")));
    String endpoint = setting(conf, bucket, "endpoint");
    String region = setting(conf, bucket, "endpoint.region");
    if (region == null || region.isEmpty()) {
      region = System.getenv().getOrDefault("AWS_REGION", "us-east-1");
    }
    if (endpoint != null && !endpoint.isEmpty()) {
      builder.withEndpointConfiguration(new EndpointConfiguration(endpoint, region));
    } else {
      builder.withRegion(region);
    }
    return builder.build();
  }

  private static AWSCredentialsProvider credentials(Configuration conf, String bucket) {
    String access = setting(conf, bucket, "access.key");
    String secret = setting(conf, bucket, "secret.key");
    if (access == null || access.isEmpty() || secret == null) {
      return DefaultAWSCredentialsProviderChain.getInstance();
    }
    String session = setting(conf, bucket, "session.token");
    return new AWSStaticCredentialsProvider(
        session == null || session.isEmpty()
            ? new BasicAWSCredentials(access, secret)
            : new BasicSessionCredentials(access, secret, session));
  }

  private static void sleep(long millis) throws IOException {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while retrying a conflicting S3 PUT", e);
    }
  }
}
