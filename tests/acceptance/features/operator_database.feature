Feature: Secure, auditable storage
  As an operator, I want all AAA, config, and statistics to be stored
  in a secure, auditable database.

  Scenario: A fresh database is created by the migrations
    Given an empty database file
    When the operator runs "flask lts init-db"
    Then the command succeeds
    And show-schema lists the tables users, sessions, audit_logs, config, statistics, portfolios, assets, orders, positions, scheduler_leases

  Scenario: The demo can be seeded twice without duplicates
    Given a migrated database
    When the operator runs "flask lts demo"
    And the operator runs "flask lts demo"
    Then the command succeeds
    And the database holds 1 user, 1 portfolio and 2 assets
    And the demo password is stored only as an argon2id hash
