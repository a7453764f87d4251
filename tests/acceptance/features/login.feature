Feature: Secure login
  As a user or an admin, I want to log in securely and access my dashboard.

  Scenario: A user logs in and sees the dashboard
    Given a user "alice" with role "user"
    When "alice" signs in with the right password
    Then the dashboard is shown
    And the session cookie is HttpOnly and SameSite=Lax
    And the login is in the audit log

  Scenario: An admin logs in and reaches the admin pages
    Given a user "root" with role "admin"
    When "root" signs in with the right password
    Then the dashboard is shown
    And the users admin page is reachable

  Scenario: A user cannot reach the admin pages
    Given a user "alice" with role "user"
    When "alice" signs in with the right password
    Then the users admin page answers 403

  Scenario: A wrong password is refused without saying why
    Given a user "alice" with role "user"
    When "alice" signs in with the password "not-the-password"
    Then the login page says "Invalid username or password"
    And the dashboard is not reachable

  Scenario: Signing out ends the session for real
    Given a user "alice" with role "user"
    When "alice" signs in with the right password
    And the browser keeps a copy of its cookies
    And "alice" signs out
    Then the copied cookies no longer open the dashboard

  Scenario: Repeated wrong passwords lock the account
    Given a user "alice" with role "user"
    When "alice" signs in with the password "not-the-password" 5 times
    And "alice" signs in with the right password
    Then the dashboard is not reachable
    And the lockout is in the audit log
