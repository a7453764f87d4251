FLASK_APP=lts:create_app
