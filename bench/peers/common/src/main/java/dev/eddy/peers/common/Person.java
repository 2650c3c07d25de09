package dev.eddy.peers.common;

/** A Nexmark person, as bench/nexmark/generator.ts writes it. A POJO: Flink and Jackson serialize its public fields. */
public class Person implements Stamped {
  public long id;
  public String name;
  public String emailAddress;
  public String creditCard;
  public String city;
  public String state;
  /** Epoch ms. */
  public long dateTime;
  public String extra;
  /** Scheduled creation time (System.nanoTime) in rate mode, else 0. */
  public long created;

  public Person() {}

  @Override
  public long created() {
    return created;
  }
}
